"""Prometheus metrics for the engine: attempts, outcomes, call duration and lateness.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``publisher run`` and the worker commands set it
under the data directory), every worker process writes its samples there and ``GET
/metrics`` aggregates them. Recording a metric never breaks publishing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.control import HEARTBEAT
from publisher.core.models import Control, Post
from publisher.core.states import DUE_STATES, State
from publisher.engine.classify import Outcome
from publisher.engine.exchange import Exchange
from publisher.engine.lock import Job
from publisher.engine.plan import Plan

log = logging.getLogger(__name__)

ACTIVE_STATES = (State.DRAFT, State.APPROVED, State.RUNNING, State.RETRY)

ATTEMPTS = Counter("publisher_attempts", "Attempts started (claims)", ["provider"])
OUTCOMES = Counter(
    "publisher_call_outcomes", "Provider calls by outcome category", ["provider", "category"]
)
RESULTS = Counter("publisher_results", "Attempts by what the engine did", ["provider", "action"])
MISSED = Counter(
    "publisher_missed_posts", "Posts not published: claimed past their lateness limit", ["provider"]
)
REFRESHES = Counter(
    "publisher_token_refreshes",
    "OAuth token refresh calls by result (refreshed, rejected, transient)",
    ["provider", "result"],
)
CALL_SECONDS = Histogram(
    "publisher_call_duration_seconds",
    "Provider call duration",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LATENESS = Histogram(
    "publisher_lateness_seconds",
    "First attempt start minus scheduled time",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


def observe_start(job: Job, now: datetime) -> None:
    try:
        ATTEMPTS.labels(job.provider).inc()
        if job.attempt == 1 and job.scheduled_at is not None:
            LATENESS.labels(job.provider).observe(
                max(0.0, (now - job.scheduled_at).total_seconds())
            )
    except Exception:  # pragma: no cover - metrics must never break publishing
        log.warning("metrics failed", exc_info=True)


def observe_call(job: Job, outcome: Outcome, exchange: Exchange) -> None:
    try:
        OUTCOMES.labels(job.provider, outcome.category.value).inc()
        CALL_SECONDS.labels(job.provider).observe(exchange.duration_ms / 1000)
    except Exception:  # pragma: no cover
        log.warning("metrics failed", exc_info=True)


def observe_result(job: Job, decided: Plan) -> None:
    try:
        RESULTS.labels(job.provider, decided.action.value).inc()
        if decided.reason == "missed":
            MISSED.labels(job.provider).inc()
    except Exception:  # pragma: no cover
        log.warning("metrics failed", exc_info=True)


def observe_refresh(provider: str, result: str) -> None:
    try:
        REFRESHES.labels(provider, result).inc()
    except Exception:  # pragma: no cover
        log.warning("metrics failed", exc_info=True)


class PipelineCollector:
    """Scrape-time gauges read from the database: posts by active state, the oldest due
    post's age, and when the last sweep ran. Only unfinished states are counted, through
    the (state, next_run_at) index, so a scrape stays cheap beside millions of done rows."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily("publisher_posts", "Unfinished posts by state", labels=["state"])
        oldest = GaugeMetricFamily(
            "publisher_oldest_due_post_age_seconds", "How long the oldest due post has waited"
        )
        last = GaugeMetricFamily(
            "publisher_last_sweep_timestamp_seconds", "When the last sweep completed (Unix time)"
        )
        try:
            counts, age, swept = self._read()
        except Exception:  # a scrape must not fail because the database blinked
            log.warning("metrics: database read failed", exc_info=True)
            return
        for state in ACTIVE_STATES:
            states.add_metric([state.value], counts.get(state.value, 0))
        oldest.add_metric([], age)
        yield states
        yield oldest
        if swept is not None:
            last.add_metric([], swept)
            yield last

    def _read(self) -> tuple[dict[str, int], float, float | None]:
        now = datetime.now(UTC)
        with self.sessions() as session:
            rows = session.execute(
                select(Post.state, func.count())
                .where(Post.state.in_([s.value for s in ACTIVE_STATES]))
                .group_by(Post.state)
            )
            counts = {state: int(n) for state, n in rows}
            first = session.execute(
                select(func.min(Post.next_run_at)).where(
                    Post.state.in_([s.value for s in DUE_STATES]), Post.next_run_at <= now
                )
            ).scalar_one_or_none()
            beat = session.get(Control, HEARTBEAT)
        age = 0.0 if first is None else max(0.0, (now - first).total_seconds())
        return counts, age, None if beat is None else beat.updated_at.timestamp()


def render(sessions: sessionmaker[Session]) -> tuple[bytes, str]:
    """The Prometheus text exposition: every process's samples plus the pipeline gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in (ATTEMPTS, OUTCOMES, RESULTS, CALL_SECONDS, LATENESS):
            registry.register(collector)
    registry.register(PipelineCollector(sessions))
    return generate_latest(registry), CONTENT_TYPE_LATEST
