"""Celery tasks: one-line wrappers over plain code (``worker.process``, ``sweep.run``)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

from celery.signals import beat_init, celeryd_init, worker_process_init

from publisher.core.notifications import deliver_pending
from publisher.core.settings import Settings
from publisher.engine import sweep, worker
from publisher.engine.dependencies import Dependencies
from publisher.engine.telemetry import sentry
from publisher.ops.celery_app import QUEUE, app
from publisher.ops.constants import (
    NOTIFY_LOCK_KEY,
    NOTIFY_LOCK_SECONDS,
    REDIS_HEARTBEAT_KEY,
    SENTRY_CHECK_IN_KEY,
    SWEEP_LOCK_KEY,
)

log = logging.getLogger(__name__)

_dependencies: Dependencies | None = None


def enqueue(post_id: int, countdown: float) -> None:
    """Send the message for ``post_id``; a countdown below 10 ms is sent as immediate."""
    if countdown >= 0.01:
        publish.apply_async((post_id,), countdown=countdown)
    else:
        publish.apply_async((post_id,))


def backlog() -> int | None:
    """How many publish messages wait in the broker (None if Redis cannot say)."""
    try:
        with app.connection_for_write() as connection:
            return int(connection.default_channel.client.llen(QUEUE))
    except Exception:
        log.warning("could not read the queue length", exc_info=True)
        return None


def dependencies() -> Dependencies:
    """This process's engine dependencies, built on first use (after the prefork fork)."""
    global _dependencies
    if _dependencies is None:
        _dependencies = Dependencies.build(Settings.from_env(), enqueue, backlog)
    return _dependencies


@worker_process_init.connect
def _fresh_process(**_kwargs: object) -> None:
    global _dependencies
    _dependencies = None  # connections must not be shared across a fork
    sentry.init(Settings.from_env(), celery=True)


@celeryd_init.connect
@beat_init.connect
def _start_reporting(**_kwargs: object) -> None:
    """Sentry in the worker's main process and in beat (Crons check-ins for the sweep)."""
    sentry.init(Settings.from_env(), celery=True)


@app.task(name="publisher.publish", ignore_result=True)
def publish(post_id: int) -> str:
    return worker.process(int(post_id), dependencies()).value


@app.task(name="publisher.sweep", ignore_result=True)
def sweep_task() -> dict[str, object]:
    """One sweep at a time: beat's ticks during a long sweep are skipped, not stacked."""
    deps = dependencies()
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        lock_seconds = max(60, int(6 * deps.settings.sweep_interval))
        if not client.set(SWEEP_LOCK_KEY, deps.owner, nx=True, ex=lock_seconds):
            log.info("sweep skipped: another sweep is still running")
            return {"skipped": True}
        try:
            return _sweep(deps)
        finally:
            if client.get(SWEEP_LOCK_KEY) == deps.owner.encode():
                client.delete(SWEEP_LOCK_KEY)


def _sweep(deps: Dependencies) -> dict[str, object]:
    report = sweep.run(deps)
    _redis_heartbeat(deps, asdict(report))
    if deps.settings.notify_url and not report.paused:
        deliver_notifications.apply_async()
    return asdict(report)


@app.task(name="publisher.deliver_notifications", ignore_result=True)
def deliver_notifications() -> int:
    """Deliver the outbox (its own task, so a slow main app never delays the sweep).

    A Redis lock keeps two deliveries from running at once.
    """
    deps = dependencies()
    settings = deps.settings
    if not settings.notify_url:
        return 0
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        if not client.set(NOTIFY_LOCK_KEY, deps.owner, nx=True, ex=NOTIFY_LOCK_SECONDS):
            return 0
        try:
            return deliver_pending(
                deps.sessions,
                deps.http,
                settings.notify_url,
                settings.notify_secret or "",
                deps.clock(),
                deps.timeout,
            )
        finally:
            if client.get(NOTIFY_LOCK_KEY) == deps.owner.encode():
                client.delete(NOTIFY_LOCK_KEY)


def _redis_heartbeat(deps: Dependencies, report: dict[str, object]) -> None:
    """The heartbeat in Redis too, and a Sentry Crons check-in at most once a minute."""
    try:
        with app.connection_for_write() as connection:
            client = connection.default_channel.client
            client.set(REDIS_HEARTBEAT_KEY, json.dumps(report))
            first_this_minute = client.set(SENTRY_CHECK_IN_KEY, "1", nx=True, ex=55)
    except Exception:  # the database heartbeat is the one the watchdog trusts first
        log.warning("could not write the Redis heartbeat", exc_info=True)
        return
    if first_this_minute and deps.settings.sentry_dsn:
        sentry.sweep_check_in()
