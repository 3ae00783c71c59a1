"""The charts over a window (issue 14): publishes by outcome and provider, lateness and
call-duration percentiles, retries and give-ups, per bucket.

Everything comes from the database (the call log, the post history, the posts), so the
charts survive restarts. Each query reads one indexed time range: ``api_calls.
started_at``, ``post_events.at``, ``posts.published_at`` (migration 0013). Counts are
aggregated in SQL on both databases; percentiles with ``percentile_cont`` on PostgreSQL
and, over the window's rows, in Python on SQLite (``percentiles``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, cast, func, select
from sqlalchemy.orm import Session

from publisher.core.dashboard.percentiles import Percentiles, grouped
from publisher.core.dashboard.window import Window
from publisher.core.db import is_postgresql
from publisher.core.models import ApiCall, Post, PostEvent
from publisher.core.states import Trigger

LATENESS_QUANTILES = (0.5, 0.95, 0.99)
DURATION_QUANTILES = (0.5, 0.95)
# The history events the retries chart counts: an attempt deferred, and the last one
# given up (back to draft).
RETRY_TRIGGERS = (Trigger.DEFER.value, Trigger.GIVE_UP.value)
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Count:
    bucket: datetime
    key: str  # the call's category, or the event's trigger
    provider: str | None  # the call's provider; None for events
    count: int


def publishes(session: Session, window: Window) -> tuple[Count, ...]:
    """Provider calls started in the window, per bucket, provider and category (success,
    unavailable, unauthorized, forbidden, unclassified, and the call log's own: in_flight,
    abandoned, reconciled...)."""
    bucket = window.bucket_of(session, ApiCall.started_at).label("bucket")
    rows = session.execute(
        select(bucket, ApiCall.provider, ApiCall.category, func.count())
        .where(window.contains(ApiCall.started_at))
        .group_by(bucket, ApiCall.provider, ApiCall.category)
        .order_by(bucket, ApiCall.provider, ApiCall.category)
    )
    return tuple(Count(window.at(i), category, p, n) for i, p, category, n in rows)


def retries(session: Session, window: Window) -> tuple[Count, ...]:
    """Attempts deferred (``defer``) and given up (``give_up``) in the window, per bucket."""
    bucket = window.bucket_of(session, PostEvent.at).label("bucket")
    rows = session.execute(
        select(bucket, PostEvent.trigger, func.count())
        .where(window.contains(PostEvent.at), PostEvent.trigger.in_(RETRY_TRIGGERS))
        .group_by(bucket, PostEvent.trigger)
        .order_by(bucket, PostEvent.trigger)
    )
    return tuple(Count(window.at(i), trigger, None, n) for i, trigger, n in rows)


def _lateness_seconds(session: Session) -> ColumnElement[float]:
    if is_postgresql(session):
        return cast(func.extract("epoch", Post.published_at - Post.scheduled_at), Float)
    # julianday's days as a double: exact to ~0.1 ms at today's dates.
    days = func.julianday(Post.published_at) - func.julianday(Post.scheduled_at)
    return days * SECONDS_PER_DAY


def lateness(
    session: Session, window: Window, quantiles: Sequence[float] = LATENESS_QUANTILES
) -> tuple[Percentiles, ...]:
    """Seconds from ``scheduled_at`` to the publish (``published_at``) of the posts
    published in the window, per bucket of their publish; posts with no scheduled time
    (published on approval) are left out."""
    bucket = window.bucket_of(session, Post.published_at).label("bucket")
    value = _lateness_seconds(session)
    where = (window.contains(Post.published_at), Post.scheduled_at.is_not(None))
    return _percentiles(session, window, bucket, None, value, where, quantiles)


def durations(
    session: Session, window: Window, quantiles: Sequence[float] = DURATION_QUANTILES
) -> tuple[Percentiles, ...]:
    """Milliseconds provider calls took (the finished ones started in the window), per
    bucket and provider."""
    bucket = window.bucket_of(session, ApiCall.started_at).label("bucket")
    where = (window.contains(ApiCall.started_at), ApiCall.duration_ms.is_not(None))
    return _percentiles(
        session, window, bucket, ApiCall.provider, ApiCall.duration_ms, where, quantiles
    )


def _percentiles(
    session: Session,
    window: Window,
    bucket: ColumnElement[int],
    key: Any,
    value: Any,
    where: Sequence[ColumnElement[bool]],
    quantiles: Sequence[float],
) -> tuple[Percentiles, ...]:
    keys = [] if key is None else [key]
    if not is_postgresql(session):
        rows = session.execute(select(bucket, *keys, value).where(*where))
        return grouped(((window.at(r[0]), r[1] if keys else None, r[-1]) for r in rows), quantiles)
    query: Select[Any] = (
        select(
            bucket,
            *keys,
            func.count(),
            *(func.percentile_cont(q).within_group(value) for q in quantiles),
        )
        .where(*where)
        .group_by(bucket, *keys)
        .order_by(bucket, *keys)
    )
    return tuple(
        Percentiles(
            window.at(row[0]),
            row[1] if keys else None,
            row[len(keys) + 1],
            tuple(float(v) for v in row[len(keys) + 2 :]),
        )
        for row in session.execute(query)
    )
