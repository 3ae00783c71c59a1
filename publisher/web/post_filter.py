"""The posts list's filter as form fields: read from a query string or a posted form into
a ``PostFilter`` (a bad value is an ``InvalidInput`` naming its field, answered as a 422
page), and written back as the query string of a link or the hidden fields of a form.

An unknown field is refused rather than ignored: a misspelt filter would otherwise widen
the match, and a bulk "cancel all matching" with it would touch posts nobody meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from publisher.core.dashboard.post_search import PostFilter
from publisher.core.states import State
from publisher.errors import InvalidInput
from publisher.providers import PROVIDERS
from publisher.web.refusals import row_id

STATES = tuple(s.value for s in State)
PROVIDER_NAMES = tuple(sorted(PROVIDERS))
# A category or cancel reason is a short lower-case name (the columns hold 40 characters).
NAME = re.compile(r"[a-z_]{1,40}")
MAX_TEXT = 200  # characters of a text search: a phrase, not a document
YES_NO = {"yes": True, "no": False}
FILTER_FIELDS = (
    "state",
    "provider",
    "account",
    "credential",
    "category",
    "cancel_reason",
    "ambiguous",
    "unconfirmed",
    "scheduled_from",
    "scheduled_to",
    "text",
)


@dataclass(frozen=True)
class Fields:
    """A form's or query string's values by name (empty values dropped), checked against
    the names the caller accepts."""

    values: dict[str, list[str]]

    @classmethod
    def of(cls, items: Iterable[tuple[str, Any]], accepted: Iterable[str]) -> Fields:
        known = set(accepted)
        values: dict[str, list[str]] = {}
        for name, value in items:
            if name not in known:
                raise InvalidInput(name, "is not a field of this form")
            if not isinstance(value, str):
                raise InvalidInput(name, "must be text")
            if value.strip():
                values.setdefault(name, []).append(value.strip())
        return cls(values)

    def many(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def one(self, name: str) -> str | None:
        found = self.many(name)
        if len(found) > 1:
            raise InvalidInput(name, "give one value")
        return found[0] if found else None

    def numbers(self, name: str) -> tuple[int, ...]:
        """Every value of ``name`` as an id (a whole number from 1)."""
        return tuple(row_id(value, name) for value in self.many(name))

    def number(self, name: str) -> int | None:
        self.one(name)  # refuses a second value
        found = self.numbers(name)
        return found[0] if found else None

    def choice(self, name: str, allowed: Iterable[str]) -> str | None:
        value = self.one(name)
        options = tuple(allowed)
        if value is not None and value not in options:
            raise InvalidInput(name, f"must be one of: {', '.join(options)}")
        return value


def _yes_no(fields: Fields, name: str) -> bool | None:
    value = fields.choice(name, YES_NO)
    return None if value is None else YES_NO[value]


def _name(fields: Fields, name: str) -> str | None:
    value = fields.one(name)
    if value is not None and not NAME.fullmatch(value):
        raise InvalidInput(name, "must be a name of lower-case letters and _ (40 at most)")
    return value


def _time(fields: Fields, name: str) -> datetime | None:
    """An ISO 8601 time; without an offset it is UTC (what the form's labels say)."""
    value = fields.one(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            name, f"must be a date and time like 2026-11-30T08:00, not {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _states(fields: Fields) -> frozenset[str]:
    found = fields.many("state")
    unknown = sorted(set(found) - set(STATES))
    if unknown:
        raise InvalidInput("state", f"{unknown[0]!r} is not one of: {', '.join(STATES)}")
    return frozenset(found)


def _text(fields: Fields) -> str | None:
    value = fields.one("text")
    if value is not None and len(value) > MAX_TEXT:
        raise InvalidInput("text", f"must be {MAX_TEXT} characters at most")
    return value


def parse(fields: Fields) -> PostFilter:
    """The filter the fields ask for; ``InvalidInput`` naming the first bad field."""
    made = PostFilter(
        states=_states(fields),
        provider=fields.choice("provider", PROVIDER_NAMES),
        account_id=fields.number("account"),
        credential_id=fields.number("credential"),
        error_category=_name(fields, "category"),
        cancel_reason=_name(fields, "cancel_reason"),
        ambiguous=_yes_no(fields, "ambiguous"),
        unconfirmed=_yes_no(fields, "unconfirmed"),
        scheduled_from=_time(fields, "scheduled_from"),
        scheduled_to=_time(fields, "scheduled_to"),
        text=_text(fields),
    )
    start, end = made.scheduled_from, made.scheduled_to
    if start is not None and end is not None and end <= start:
        raise InvalidInput("scheduled_to", "must be later than scheduled_from")
    return made


def _written(value: bool | int | str | datetime) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    return str(value)


def query(f: PostFilter) -> list[tuple[str, str]]:
    """The filter's set fields as (name, value) pairs: ``parse`` reads them back to ``f``
    (times in UTC, without an offset, as a ``datetime-local`` input shows them)."""
    pairs = [("state", state) for state in sorted(f.states)]
    single = (
        ("provider", f.provider),
        ("account", f.account_id),
        ("credential", f.credential_id),
        ("category", f.error_category),
        ("cancel_reason", f.cancel_reason),
        ("ambiguous", f.ambiguous),
        ("unconfirmed", f.unconfirmed),
        ("scheduled_from", f.scheduled_from),
        ("scheduled_to", f.scheduled_to),
        ("text", f.text),
    )
    return pairs + [(name, _written(value)) for name, value in single if value is not None]


# Where a refused filter's page leads back to.
POSTS = "/dashboard/posts"
BACK = (POSTS, "the posts")


def link(f: PostFilter, path: str = POSTS) -> str:
    """``path`` carrying the filter ``f`` in its query string (none when ``f`` is open)."""
    found = urlencode(query(f))
    return path + (f"?{found}" if found else "")
