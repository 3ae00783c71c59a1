"""How long to wait before the next attempt.

A pure policy: ``delay`` turns (policy, failed attempt number) into seconds, and
``earliest_from_headers`` reads the provider's own "not before" hints (``Retry-After``,
X's ``x-rate-limit-reset``, Mastodon's ``X-RateLimit-Reset``, Graph's usage headers in
``usage_headers``), capped so that one bad header cannot park a credential for years.
The classifier takes the later of the two; nothing here sleeps, reads a clock or
touches the database.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from publisher.core.models import Backoff
from publisher.engine import usage_headers

# 2**63 seconds is far past any cap; bounding the exponent keeps the float math finite.
MAX_EXPONENT = 63

_NUMBER = re.compile(r"\d+(\.\d+)?")

# The furthest a provider's header may push a retry (s) unless the caller says otherwise:
# the default of PUBLISHER_RETRY_AFTER_MAX, an hour, like PUBLISHER_RETRY_MAX.
HEADER_CAP = 3600.0

# The rate-limit reset headers: (reset, remaining). X spells them with a hyphen after
# "rate" and sends epoch seconds (https://docs.x.com/x-api/fundamentals/rate-limits);
# Mastodon without it, and sends an ISO 8601 time
# (https://docs.joinmastodon.org/api/rate-limits/). Each value is read by its shape, so
# either spelling takes either form.
_RESET_HEADERS = (
    ("x-rate-limit-reset", "x-rate-limit-remaining"),
    ("x-ratelimit-reset", "x-ratelimit-remaining"),
    # Bluesky's PDS: the IETF draft's names, epoch seconds
    # (https://docs.bsky.app/docs/advanced-guides/rate-limits).
    ("ratelimit-reset", "ratelimit-remaining"),
)


DEFAULT = Backoff.EXPONENTIAL


def delay(
    policy: Backoff,
    attempt: int,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Exponential uses "equal jitter": ``min(cap, base * 2**(attempt-1))`` is drawn
    uniformly down to half of itself, so retries spread out yet never come sooner than
    half the nominal delay. Linear is ``min(cap, base * attempt)``. Constant is ``base``
    (the cap does not apply). Never negative; raises ValueError for ``attempt < 1`` or a
    negative ``base``/``cap``.
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError(f"base and cap must not be negative, got {base}, {cap}")
    if policy is Backoff.CONSTANT:
        return base
    if policy is Backoff.LINEAR:
        return min(cap, base * attempt)
    nominal = min(cap, base * 2.0 ** min(attempt - 1, MAX_EXPONENT))
    uniform = rng.uniform if rng is not None else random.uniform
    return uniform(nominal / 2, nominal)


def earliest_from_headers(
    headers: Mapping[str, str], now: datetime, cap: float = HEADER_CAP
) -> datetime | None:
    """The earliest time the provider will accept a retry, from its response headers.

    Reads ``Retry-After`` (delta seconds or HTTP-date), X's ``x-rate-limit-reset`` and
    Mastodon's ``X-RateLimit-Reset`` (epoch seconds or ISO 8601, told apart by shape) and
    Graph's usage headers (``usage_headers``), matching header names case-insensitively.
    A reset header is ignored when its ``...-remaining`` companion says requests are
    left, since both providers send it on every response. Returns the latest of the
    times found, in UTC, never later than ``now + cap`` seconds and never earlier than
    ``now``; None when none is present or parseable. Never raises on junk values.
    ``now`` must be aware.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    found = [_retry_after(lowered.get("retry-after"), now)]
    found += [
        _rate_limit_reset(lowered.get(reset), lowered.get(remaining))
        for reset, remaining in _RESET_HEADERS
    ]
    found.append(usage_headers.not_before(lowered, now.astimezone(UTC)))
    return _capped(found, now, cap)


def near_limit_from_headers(
    headers: Mapping[str, str], now: datetime, cap: float = HEADER_CAP
) -> datetime | None:
    """After a success: the time the provider's usage headers say to slow down until
    (Graph's usage near 100%, ``usage_headers``), capped as ``earliest_from_headers``;
    None while usage leaves room. The reset headers are not read here: X and Mastodon
    send one on every answer, and their next call's 429 holds the credential anyway."""
    lowered = {str(name).lower(): value for name, value in headers.items()}
    return _capped([usage_headers.not_before(lowered, now.astimezone(UTC))], now, cap)


def _capped(found: list[datetime | None], now: datetime, cap: float) -> datetime | None:
    """The latest of ``found``, between ``now`` and ``now + cap`` seconds (UTC)."""
    times = [moment for moment in found if moment is not None]
    if not times:
        return None
    latest = now.astimezone(UTC) + timedelta(seconds=max(cap, 0.0))
    return max(now.astimezone(UTC), min(max(times), latest))


def _retry_after(value: object, now: datetime) -> datetime | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    try:
        if _NUMBER.fullmatch(value):
            return (now + timedelta(seconds=float(value))).astimezone(UTC)
        return _as_utc(parsedate_to_datetime(value))
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def _rate_limit_reset(value: object, remaining: object) -> datetime | None:
    if not isinstance(value, str) or _has_quota_left(remaining):
        return None
    value = value.strip()
    try:
        if _NUMBER.fullmatch(value):
            return datetime.fromtimestamp(float(value), UTC)
        return _as_utc(datetime.fromisoformat(value))
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def _has_quota_left(remaining: object) -> bool:
    if not isinstance(remaining, str):
        return False
    try:
        return int(remaining.strip()) > 0
    except ValueError:
        return False


def _as_utc(moment: datetime) -> datetime:
    # A date without a zone (HTTP-date "-0000", ISO without offset) is taken as UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
