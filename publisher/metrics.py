"""Prometheus metrics for the engine: attempts, outcomes, call duration and lateness.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``publisher run`` and the worker commands set it
under the data directory), every worker process writes its samples there and ``GET
/metrics`` aggregates them. Recording a metric never breaks publishing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import Counter, Histogram

from publisher.calls import Exchange
from publisher.classify import Outcome
from publisher.lock import Job
from publisher.plan import Plan

log = logging.getLogger(__name__)

ATTEMPTS = Counter("publisher_attempts", "Attempts started (claims)", ["provider"])
OUTCOMES = Counter(
    "publisher_call_outcomes", "Provider calls by outcome category", ["provider", "category"]
)
RESULTS = Counter("publisher_results", "Attempts by what the engine did", ["provider", "action"])
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
    except Exception:  # pragma: no cover
        log.warning("metrics failed", exc_info=True)
