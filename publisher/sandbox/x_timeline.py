"""Reading a user's tweets as X API v2's ``GET /2/users/:id/tweets`` does.

Newest first. ``max_results`` (5 to 100, default 10) sizes a page; ``start_time``
(inclusive) and ``end_time`` (exclusive), second-granular RFC 3339 times, and
``since_id``/``until_id`` (both exclusive) bound it, an id taking precedence over the time
on its side; ``pagination_token`` continues where the ``meta.next_token`` of the previous
page left off (given only while more remain). ``meta`` carries ``result_count`` and, when
the page is not empty, ``newest_id`` and ``oldest_id``; an empty page has no ``data`` key.
A tweet shows ``id``, ``text`` and ``edit_history_tweet_ids``; ``tweet.fields`` adds
``created_at`` and ``entities`` (other fields are not modelled). A bad parameter is X's
400 "Invalid Request" problem.

Sources: https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id (parameters and
ranges), https://docs.x.com/x-api/fundamentals/pagination (next_token, pagination_token,
no next_token on the last page), https://docs.x.com/x-api/fundamentals/data-dictionary
(default fields).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from publisher.sandbox.ledger import CreateRecord

DEFAULT_RESULTS, MIN_RESULTS, MAX_RESULTS = 10, 5, 100
ALWAYS = ("id", "text", "edit_history_tweet_ids")  # X's default tweet fields
ON_REQUEST = ("created_at", "entities")  # the tweet.fields the sandbox models
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
_TOKEN_PREFIX = "sbx1:"


class InvalidParameter(Exception):
    """A query parameter X would refuse; ``problem`` is X's 400 body for it."""

    def __init__(self, name: str, value: str, message: str) -> None:
        super().__init__(message)
        self.problem = {
            "errors": [{"parameters": {name: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST,
        }


@dataclass(frozen=True)
class Query:
    """One timeline read's parameters, checked."""

    max_results: int = DEFAULT_RESULTS
    start_time: datetime | None = None
    end_time: datetime | None = None
    since_id: int | None = None
    until_id: int | None = None
    below: int | None = None  # from pagination_token: only ids below this one
    fields: frozenset[str] = frozenset()

    def admits(self, record: CreateRecord) -> bool:
        post_id = int(record.id)
        if self.since_id is not None:
            if post_id <= self.since_id:
                return False
        elif self.start_time is not None and record.at < self.start_time:
            return False
        if self.until_id is not None:
            if post_id >= self.until_id:
                return False
        elif self.end_time is not None and record.at >= self.end_time:
            return False
        return self.below is None or post_id < self.below


def parse(query: Mapping[str, str]) -> Query:
    """The checked parameters; raises ``InvalidParameter`` for the first bad one."""
    fields = frozenset(f for f in (query.get("tweet.fields") or "").split(",") if f)
    return Query(
        max_results=_results(query.get("max_results")),
        start_time=_time(query, "start_time"),
        end_time=_time(query, "end_time"),
        since_id=_id(query, "since_id"),
        until_id=_id(query, "until_id"),
        below=_below(query.get("pagination_token")),
        fields=fields,
    )


def page(newest_first: Sequence[CreateRecord], query: Query) -> dict[str, Any]:
    """The response body for one page of ``newest_first`` under ``query``."""
    matching = [record for record in newest_first if query.admits(record)]
    shown = matching[: query.max_results]
    meta: dict[str, Any] = {"result_count": len(shown)}
    if not shown:
        return {"meta": meta}
    meta |= {"newest_id": shown[0].id, "oldest_id": shown[-1].id}
    if len(matching) > len(shown):
        meta["next_token"] = next_token(int(shown[-1].id))
    return {"data": [fields_of(r.payload, query.fields) for r in shown], "meta": meta}


def fields_of(tweet: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """``tweet`` with the default fields and those of ``fields`` it has."""
    wanted = (*ALWAYS, *(name for name in ON_REQUEST if name in fields))
    return {name: tweet[name] for name in wanted if name in tweet}


def next_token(below: int) -> str:
    """An opaque token for the page of ids below ``below``."""
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{below}".encode()).decode().rstrip("=")


def _below(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if decoded.startswith(_TOKEN_PREFIX):
            return int(decoded.removeprefix(_TOKEN_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidParameter(
        "pagination_token",
        token,
        f"The `pagination_token` query parameter value [{token}] is not valid",
    )


def _results(value: str | None) -> int:
    if value is None:
        return DEFAULT_RESULTS
    if value.isdigit() and MIN_RESULTS <= int(value) <= MAX_RESULTS:
        return int(value)
    raise InvalidParameter(
        "max_results",
        value,
        f"The `max_results` query parameter value [{value}] is not between "
        f"{MIN_RESULTS} and {MAX_RESULTS}",
    )


def _time(query: Mapping[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(
            name, value, f"Invalid '{name}':'{value}'. '{name}' must be a valid RFC 3339 time"
        ) from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0)  # X reads times to the second


def _id(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    raise InvalidParameter(
        name, value, f"The `{name}` query parameter value [{value}] does not match ^[0-9]{{1,19}}$"
    )
