"""Naming what a provider call's result means: the ``Outcome`` the worker acts on.

Pure: an ``Exchange`` and the provider's error table in, a value out. Network errors and
5xx/429 are Unavailable; the table names the provider-specific codes; anything else is
Unclassified (reported to Sentry, then retried like Unavailable).

Ambiguous means the post may exist although the answer does not say so: no answer after
the request went out, an unreadable or oversized 2xx, and any 5xx (a gateway can fail
after the backend stored the post). The next attempt looks the post up first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from publisher.engine.backoff import HEADER_CAP, earliest_from_headers, near_limit_from_headers
from publisher.engine.exchange import Exchange
from publisher.providers.base import (
    Category,
    Provider,
    ProviderError,
    Published,
    PublishRequest,
    ReadsCreatedHeaders,
    match_rule,
)

MESSAGE_LIMIT = 500  # characters of a provider's error message kept on the post


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    category: Category
    message: str | None = None
    published: Published | None = None
    not_before: datetime | None = None  # the provider's own earliest retry time
    ambiguous: bool = False  # the provider may have created the post anyway
    # A 429 / rate-limit code, or a success whose usage headers say the quota is nearly
    # spent: hold the credential's other posts (until ``not_before``)
    rate_limited: bool = False


RATE_LIMIT_STATUS = 429
SERVER_ERROR = 500  # and up: the request reached the provider, which may have acted on it


def spent_until(exchange: Exchange, now: datetime, cap: float = HEADER_CAP) -> datetime | None:
    """When a successful answer's usage headers say the quota is (nearly) spent (Graph's
    usage near 100%): the time to hold the credential until; None while room is left."""
    until = near_limit_from_headers(exchange.headers, now, cap)
    return until if until is not None and until > now else None


def _success(
    provider: Provider,
    exchange: Exchange,
    request: PublishRequest | None,
    now: datetime,
    cap: float,
) -> Outcome:
    assert exchange.status is not None
    try:
        if isinstance(provider, ReadsCreatedHeaders):  # the id is in a header (LinkedIn)
            published = provider.parse_created(
                exchange.status, exchange.headers, exchange.json(), request
            )
        else:
            published = provider.parse_success(exchange.status, exchange.json(), request)
    except (KeyError, TypeError, ValueError, AttributeError):
        published = None
    if published is None:
        # 2xx but unreadable: the post very likely exists. Retry with the same idempotency
        # key and reconcile first, and let a human see it in Sentry.
        return Outcome(
            Category.UNCLASSIFIED,
            f"HTTP {exchange.status} with an unreadable body",
            ambiguous=True,
        )
    until = spent_until(exchange, now, cap)
    return Outcome(
        Category.SUCCESS, published=published, not_before=until, rate_limited=until is not None
    )


def _not_before(
    exchange: Exchange, error: ProviderError, now: datetime, cap: float
) -> datetime | None:
    """The later of the headers' hints and the body's ``retry_after`` (Telegram and
    Discord say how long to wait in the body), read alike and capped alike."""
    hints = [earliest_from_headers(exchange.headers, now, cap)]
    if error.retry_after is not None:
        hints.append(earliest_from_headers({"Retry-After": str(error.retry_after)}, now, cap))
    found = [moment for moment in hints if moment is not None]
    return max(found) if found else None


def classify(
    provider: Provider,
    exchange: Exchange,
    now: datetime,
    request: PublishRequest | None = None,
    header_cap: float = HEADER_CAP,
) -> Outcome:
    """The outcome of ``exchange``; never raises. The provider's "retry after" headers
    count up to ``header_cap`` seconds from ``now`` (PUBLISHER_RETRY_AFTER_MAX)."""
    if exchange.status is None:
        return Outcome(Category.UNAVAILABLE, exchange.error, ambiguous=exchange.ambiguous)
    status = exchange.status
    if exchange.oversized:
        return Outcome(
            Category.UNCLASSIFIED, f"HTTP {status} with an oversized answer", ambiguous=True
        )
    if 200 <= status < 300:
        return _success(provider, exchange, request, now, header_cap)
    error = provider.parse_error(status, exchange.json())
    message = error.message.replace("\x00", "")[:MESSAGE_LIMIT] or f"HTTP {status}"
    category = match_rule(provider.error_table, status, error)
    if category is None:
        category = Category.UNAVAILABLE if status >= 500 else Category.UNCLASSIFIED
    not_before = _not_before(exchange, error, now, header_cap)
    rate_limited = status == RATE_LIMIT_STATUS or (
        category is Category.UNAVAILABLE and not_before is not None
    )
    return Outcome(
        category,
        f"HTTP {status}: {message}",
        not_before=not_before
        if category in (Category.UNAVAILABLE, Category.UNCLASSIFIED)
        else None,
        ambiguous=status >= SERVER_ERROR,
        rate_limited=rate_limited,
        published=error.existing if category is Category.DUPLICATE else None,
    )
