"""The Python API's input checks and bounds: each raises ``InvalidInput`` naming the
field, before anything is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from publisher.core.addresses import url_problem
from publisher.errors import InvalidInput, NotFound
from publisher.providers import get_provider

BILLING_STATUSES = ("active", "past_due", "suspended")
MAX_ATTEMPTS_LIMIT = 100  # beyond this a post would retry for days: surely a mistake
PAGE_LIMIT = 500  # the largest page a listing returns
MAX_LATENESS = 366 * 86_400.0  # s: a limit beyond a year means "no limit": leave it unset
# A credential's calls in flight at once: providers limit requests per token, so more than
# this is surely a mistake (each slot is a worker busy on that one token).
MAX_IN_FLIGHT = 1000
# A credential's own text limit: above the API's default body bound (1 MB) no text could
# reach it, so a larger one is surely a mistake.
MAX_TEXT_LIMIT = 1_000_000
# A token goes in an HTTP header: visible ASCII only ("!" to "~"), so no whitespace or
# control character can break the header or make ``requests`` quote the token in an error.
TOKEN_FIRST, TOKEN_LAST = "!", "~"
# Scheduled times outside these bounds are surely mistakes; near the calendar's ends an
# offset (or the engine's date arithmetic) would leave the calendar.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
# api_calls.url holds 2,000 characters: this leaves room for the longest path and query
# a provider appends, so every call the engine makes can be logged.
BASE_URL_LIMIT = 1_000
# Characters no stored text may hold: NUL (PostgreSQL text cannot) and lone surrogates
# (not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


T = TypeVar("T")


def fetch(session: Session, model: type[T], object_id: int, field: str) -> T:
    found = session.get(model, object_id)
    if found is None:
        raise NotFound(f"{field} {object_id} not found", field=field)
    return found


def aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(field, "must include a time zone offset, e.g. 2030-01-01T09:00:00Z")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None  # the offset takes it past year 1 or 9999
    if in_utc is None or not EARLIEST_TIME <= in_utc < LATEST_TIME:
        raise InvalidInput(
            field, f"must be between {EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d} UTC"
        )
    return value


def storable(field: str, value: Any) -> Any:
    """``value`` when every string in it (keys and items too) can be stored and sent."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            raise InvalidInput(field, "must not contain NUL characters or lone surrogates")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            storable(field, key)
            storable(field, item)
    elif isinstance(value, list | tuple):
        for item in value:
            storable(field, item)
    return value


def check_billing(status: str) -> str:
    if status not in BILLING_STATUSES:
        raise InvalidInput("billing_status", f"must be one of: {', '.join(BILLING_STATUSES)}")
    return status


def check_text(
    text: str, options: Mapping[str, Any], provider_name: str, limit: int | None = None
) -> str:
    """``text`` if the provider's network would take it with ``options``: measured as that
    network measures it (``Provider.text_rule``), against ``limit`` (the credential's own)
    or else the network's default; the refusal names length, way and limit."""
    storable("text", text)
    if not text.strip():
        raise InvalidInput("text", "must not be empty")
    rule = get_provider(provider_name).text_rule
    refused = rule.refusal(text)
    if refused is not None:
        raise InvalidInput("text", refused)
    allowed = rule.limit if limit is None else limit
    length = rule.measure(text, options)
    if length > allowed:
        raise InvalidInput("text", f"is {length} {rule.counted}; {provider_name} allows {allowed}")
    return text


def check_lateness(value: float | None) -> float | None:
    if value is not None and not 0 < value <= MAX_LATENESS:
        raise InvalidInput("max_lateness", f"must be between 0 and {MAX_LATENESS:g} seconds")
    return value


def check_max_attempts(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise InvalidInput("max_attempts", f"must be between 1 and {MAX_ATTEMPTS_LIMIT}")
    return value


def check_token(token: str) -> str:
    """A token that can go in an HTTP header as is (a refused token is never echoed)."""
    if not token:
        raise InvalidInput("token", "must not be empty")
    if not all(TOKEN_FIRST <= ch <= TOKEN_LAST for ch in token):
        raise InvalidInput(
            "token", "must be printable ASCII without spaces, tabs, line breaks or NUL"
        )
    return token


def check_url(url: str, allow_private: bool, field: str = "base_url") -> str:
    if len(url) > BASE_URL_LIMIT:
        raise InvalidInput(field, f"must be at most {BASE_URL_LIMIT} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise InvalidInput(field, "must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(field, "must be an absolute http(s) URL")
    problem = url_problem(url, allow_private)
    if problem:
        raise InvalidInput(field, problem)
    return url.rstrip("/")


def check_max_in_flight(value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("max_in_flight", "must be an integer")
    if not 1 <= value <= MAX_IN_FLIGHT:
        raise InvalidInput("max_in_flight", f"must be between 1 and {MAX_IN_FLIGHT}")


def check_max_text_length(value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("max_text_length", "must be an integer")
    if not 1 <= value <= MAX_TEXT_LIMIT:
        raise InvalidInput("max_text_length", f"must be between 1 and {MAX_TEXT_LIMIT}")


def check_key(key: str) -> str:
    """A key that fits its column and an ``Idempotency-Key`` header (visible ASCII)."""
    if not 8 <= len(key) <= 64 or not all(TOKEN_FIRST <= ch <= TOKEN_LAST for ch in key):
        raise InvalidInput(
            "idempotency_key", "must be 8 to 64 printable ASCII characters, no spaces"
        )
    return key
