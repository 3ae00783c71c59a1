"""Sentry: setup with secret scrubbing, and the engine's reports for triage.

Without ``SENTRY_DSN`` nothing is sent and every function here is a no-op. Events never
carry tokens: local variables are off, ``send_default_pii`` is off, and ``before_send`` /
``before_breadcrumb`` redact secret-named fields and Authorization headers everywhere, and
every string with the active job's ``Redactor`` (its token in any common encoding).
Reporting never raises into the engine.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, cast

import sentry_sdk

from publisher.core import redact
from publisher.core.settings import Settings
from publisher.engine.classify import Outcome
from publisher.engine.exchange import Exchange
from publisher.engine.lock import Job
from publisher.engine.plan import Plan

if TYPE_CHECKING:
    from sentry_sdk._types import MonitorConfig

log = logging.getLogger(__name__)


def _scrub(event: Any, _hint: Any) -> Any:
    return redact.active().data(redact.data(event))


def init(settings: Settings, *, celery: bool = False) -> bool:
    """Start Sentry if a DSN is configured; returns whether it did."""
    if not settings.sentry_dsn:
        return False
    integrations: list[Any] = []
    if celery:
        from sentry_sdk.integrations.celery import CeleryIntegration

        # Beat monitoring is done by ``sweep_check_in``: Sentry Crons cannot watch a
        # schedule shorter than a minute.
        integrations.append(CeleryIntegration(monitor_beat_tasks=False))
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=_scrub,
        before_breadcrumb=_scrub,
        integrations=integrations,
        traces_sample_rate=0.0,
    )
    return True


def _context(job: Job) -> dict[str, Any]:
    return {
        "post_id": job.post_id,
        "provider": job.provider,
        "attempt": job.attempt,
        "account_id": job.account_id,
        "credential_id": job.credential_id,
    }


def unclassified(job: Job, outcome: Outcome, exchange: Exchange, secrets: redact.Redactor) -> None:
    """An answer nobody classified yet: a human should look and add a table row."""
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("provider", job.provider)
            scope.set_tag("category", outcome.category.value)
            scope.set_context("post", _context(job))
            scope.set_context(
                "response",
                {
                    "status": exchange.status,
                    "error": redact.text(exchange.error or "", secrets),
                    "headers": redact.headers(exchange.headers, secrets),
                    "body": redact.body(exchange.body, secrets),
                },
            )
            scope.fingerprint = ["unclassified", job.provider, str(exchange.status)]
            sentry_sdk.capture_message(
                redact.text(f"unclassified {job.provider} response: {outcome.message}", secrets),
                level="warning",
            )
    except Exception:  # pragma: no cover - reporting must not break publishing
        log.warning("could not report to Sentry", exc_info=True)


def exception(exc: BaseException, job: Job) -> None:
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("provider", job.provider)
            scope.set_context("post", _context(job))
            sentry_sdk.capture_exception(exc)
    except Exception:  # pragma: no cover
        log.warning("could not report to Sentry", exc_info=True)
    log.error("post %s: unexpected %s", job.post_id, exc.__class__.__name__, exc_info=exc)


_undecryptable_reported: set[int] = set()  # credential ids this process already reported
_undecryptable_lock = threading.Lock()  # the pool's threads share the set


def undecryptable(job: Job) -> None:
    """A credential's token cannot be decrypted (a missing or wrong key): one alert per
    credential, not per post (its fingerprint also groups other processes' alerts)."""
    with _undecryptable_lock:
        if job.credential_id in _undecryptable_reported:
            return
        _undecryptable_reported.add(job.credential_id)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("provider", job.provider)
            scope.set_context("post", _context(job))
            scope.fingerprint = ["undecryptable-token", str(job.credential_id)]
            sentry_sdk.capture_message(
                f"credential {job.credential_id}: its token cannot be decrypted with "
                "PUBLISHER_SECRET_KEY; its posts wait until the key is restored",
                level="error",
            )
    except Exception:  # pragma: no cover
        log.warning("could not report to Sentry", exc_info=True)


def lease_lost(job: Job, decided: Plan) -> None:
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_context("post", _context(job))
            sentry_sdk.capture_message(
                f"post {job.post_id}: lease lost before recording {decided.action.value}",
                level="error",
            )
    except Exception:  # pragma: no cover
        log.warning("could not report to Sentry", exc_info=True)


SWEEP_MONITOR = "publisher-sweep"
SWEEP_MONITOR_CONFIG: dict[str, Any] = {
    "schedule": {"type": "interval", "value": 1, "unit": "minute"},
    "checkin_margin": 2,  # minutes late before Sentry alerts
    "max_runtime": 5,
    "timezone": "UTC",
}


def sweep_check_in() -> None:
    """A Sentry Crons check-in for the sweep (the caller sends at most one a minute)."""
    try:
        from sentry_sdk.crons import MonitorStatus, capture_checkin

        capture_checkin(
            monitor_slug=SWEEP_MONITOR,
            monitor_config=cast("MonitorConfig", SWEEP_MONITOR_CONFIG),
            status=MonitorStatus.OK,
        )
    except Exception:  # pragma: no cover
        log.warning("could not check in with Sentry", exc_info=True)
