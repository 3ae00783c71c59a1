"""The dashboard's charts (``core.dashboard.charts``) on SQLite and PostgreSQL: exact
counts per bucket at the window's edges, and percentiles equal to a Python computation
over the same rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.dashboard import charts
from publisher.core.dashboard.charts import Count
from publisher.core.dashboard.percentiles import cont
from publisher.core.dashboard.window import Window
from tests.support.dashboard_rows import T0, call, credential, event, post

MINUTE = timedelta(minutes=1)
S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)
WINDOW = Window(T0, T0 + 3 * MINUTE)


def test_publishes_are_counted_per_bucket_provider_and_category(
    sessions: sessionmaker[Session],
) -> None:
    # Given calls at each edge of the window's buckets, and just outside it
    with sessions.begin() as session:
        p = post(session, credential(session))
        for at, provider, category in [
            (T0 - MS, "mastodon", "success"),  # before the window
            (T0, "mastodon", "success"),  # its first instant
            (T0 + MINUTE - MS, "mastodon", "success"),
            (T0 + 30 * S, "mastodon", "unavailable"),
            (T0 + 30 * S, "x", "success"),
            (T0 + MINUTE, "mastodon", "forbidden"),  # the second bucket's first instant
            (T0 + 3 * MINUTE - MS, "x", "unauthorized"),
            (T0 + 3 * MINUTE, "x", "unclassified"),  # the end is outside
        ]:
            call(session, p, at, provider=provider, category=category)
    # When the chart is read
    with sessions() as session:
        found = charts.publishes(session, WINDOW)
    # Then every call inside [start, end) counts once, in its bucket
    assert found == (
        Count(T0, "success", "mastodon", 2),
        Count(T0, "unavailable", "mastodon", 1),
        Count(T0, "success", "x", 1),
        Count(T0 + MINUTE, "forbidden", "mastodon", 1),
        Count(T0 + 2 * MINUTE, "unauthorized", "x", 1),
    )


def test_retries_and_give_ups_are_counted_per_bucket(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        p = post(session, credential(session))
        for at, trigger in [
            (T0 - MS, "defer"),
            (T0, "defer"),
            (T0 + 59 * S, "defer"),
            (T0 + 59 * S, "give_up"),
            (T0 + 59 * S, "succeed"),  # not a retry
            (T0 + 2 * MINUTE, "give_up"),
            (T0 + 3 * MINUTE, "defer"),
        ]:
            event(session, p, at, trigger)
    with sessions() as session:
        found = charts.retries(session, WINDOW)
    assert found == (
        Count(T0, "defer", None, 2),
        Count(T0, "give_up", None, 1),
        Count(T0 + 2 * MINUTE, "give_up", None, 1),
    )


def test_a_coarser_bucket_counts_days(sessions: sessionmaker[Session]) -> None:
    day = timedelta(days=1)
    with sessions.begin() as session:
        p = post(session, credential(session))
        for at in (T0, T0 + day - MS, T0 + day, T0 + 2 * day + 5 * MINUTE):
            call(session, p, at)
    with sessions() as session:
        found = charts.publishes(session, Window(T0, T0 + 7 * day, day))
    assert [(c.bucket, c.count) for c in found] == [(T0, 2), (T0 + day, 1), (T0 + 2 * day, 1)]


def test_lateness_percentiles_match_python_over_the_same_rows(
    sessions: sessionmaker[Session],
) -> None:
    # Given posts published in two buckets, late by known amounts (and some left out)
    late = {0: [0.25, 1.0, 2.5, 7.0, 30.0], 1: [0.5, 120.0]}
    with sessions.begin() as session:
        c = credential(session)
        for index, seconds in ((i, s) for i, values in late.items() for s in values):
            scheduled = T0 + index * MINUTE + 10 * S - timedelta(seconds=seconds)
            published = T0 + index * MINUTE + 10 * S
            post(session, c, scheduled_at=scheduled, published_at=published)
        post(session, c, scheduled_at=None, published_at=T0 + 5 * S)  # published on approval
        post(session, c, scheduled_at=T0 - MINUTE, published_at=T0 + 3 * MINUTE)  # after end
        post(session, c, state="approved", scheduled_at=T0)  # not published
    with sessions() as session:
        found = charts.lateness(session, WINDOW)
    # Then each bucket's p50/p95/p99 is percentile_cont of its posts' lateness
    assert [(p.bucket, p.key, p.count) for p in found] == [(T0, None, 5), (T0 + MINUTE, None, 2)]
    for summary, values in zip(found, late.values(), strict=True):
        expected = [cont(sorted(values), q) for q in charts.LATENESS_QUANTILES]
        assert summary.values == pytest.approx(expected, abs=1e-3)


def test_call_durations_per_provider_match_python(sessions: sessionmaker[Session]) -> None:
    durations = {"mastodon": [12.0, 15.5, 40.0, 900.0], "x": [100.0, 250.0, 251.0]}
    with sessions.begin() as session:
        p = post(session, credential(session))
        for provider, values in durations.items():
            for value in values:
                call(session, p, T0 + 2 * MINUTE, provider=provider, duration_ms=value)
        call(session, p, T0 + 2 * MINUTE, provider="x", duration_ms=None)  # in flight
        call(session, p, T0 + 3 * MINUTE, provider="x", duration_ms=1.0)  # after the end
    with sessions() as session:
        found = charts.durations(session, WINDOW)
    assert [(p.bucket, p.key, p.count) for p in found] == [
        (T0 + 2 * MINUTE, "mastodon", 4),
        (T0 + 2 * MINUTE, "x", 3),
    ]
    for summary, values in zip(found, durations.values(), strict=True):
        expected = [cont(sorted(values), q) for q in charts.DURATION_QUANTILES]
        assert summary.values == pytest.approx(expected, abs=1e-6)
