"""Celery tasks: one-line wrappers over plain code (``worker.process``, ``sweep.run``)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

from celery.signals import beat_init, celeryd_init, worker_process_init

from publisher import reporting, sweep, worker
from publisher.celery import QUEUE, app
from publisher.constants import (
    NOTIFY_LOCK_KEY,
    NOTIFY_LOCK_SECONDS,
    REDIS_HEARTBEAT_KEY,
    SENTRY_CHECK_IN_KEY,
    SWEEP_LOCK_KEY,
)
from publisher.notify import deliver_pending
from publisher.runtime import Runtime
from publisher.settings import Settings

log = logging.getLogger(__name__)

_runtime: Runtime | None = None


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


def runtime() -> Runtime:
    """This process's runtime, built on first use (after the prefork fork)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(Settings.from_env(), enqueue, backlog)
    return _runtime


@worker_process_init.connect
def _fresh_process(**_kwargs: object) -> None:
    global _runtime
    _runtime = None  # connections must not be shared across a fork
    reporting.init(Settings.from_env(), celery=True)


@celeryd_init.connect
@beat_init.connect
def _start_reporting(**_kwargs: object) -> None:
    """Sentry in the worker's main process and in beat (Crons check-ins for the sweep)."""
    reporting.init(Settings.from_env(), celery=True)


@app.task(name="publisher.publish", ignore_result=True)
def publish(post_id: int) -> str:
    return worker.process(int(post_id), runtime()).value


@app.task(name="publisher.sweep", ignore_result=True)
def sweep_task() -> dict[str, object]:
    """One sweep at a time: beat's ticks during a long sweep are skipped, not stacked."""
    rt = runtime()
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        lock_seconds = max(60, int(6 * rt.settings.sweep_interval))
        if not client.set(SWEEP_LOCK_KEY, rt.owner, nx=True, ex=lock_seconds):
            log.info("sweep skipped: another sweep is still running")
            return {"skipped": True}
        try:
            return _sweep(rt)
        finally:
            if client.get(SWEEP_LOCK_KEY) == rt.owner.encode():
                client.delete(SWEEP_LOCK_KEY)


def _sweep(rt: Runtime) -> dict[str, object]:
    report = sweep.run(rt)
    _redis_heartbeat(rt, asdict(report))
    if rt.settings.notify_url and not report.paused:
        deliver_notifications.apply_async()
    return asdict(report)


@app.task(name="publisher.deliver_notifications", ignore_result=True)
def deliver_notifications() -> int:
    """Deliver the outbox (its own task, so a slow main app never delays the sweep).

    A Redis lock keeps two deliveries from running at once.
    """
    rt = runtime()
    settings = rt.settings
    if not settings.notify_url:
        return 0
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        if not client.set(NOTIFY_LOCK_KEY, rt.owner, nx=True, ex=NOTIFY_LOCK_SECONDS):
            return 0
        try:
            return deliver_pending(
                rt.sessions,
                rt.http,
                settings.notify_url,
                settings.notify_secret or "",
                rt.clock(),
                rt.timeout,
            )
        finally:
            if client.get(NOTIFY_LOCK_KEY) == rt.owner.encode():
                client.delete(NOTIFY_LOCK_KEY)


def _redis_heartbeat(rt: Runtime, report: dict[str, object]) -> None:
    """The heartbeat in Redis too, and a Sentry Crons check-in at most once a minute."""
    try:
        with app.connection_for_write() as connection:
            client = connection.default_channel.client
            client.set(REDIS_HEARTBEAT_KEY, json.dumps(report))
            first_this_minute = client.set(SENTRY_CHECK_IN_KEY, "1", nx=True, ex=55)
    except Exception:  # the database heartbeat is the one the watchdog trusts first
        log.warning("could not write the Redis heartbeat", exc_info=True)
        return
    if first_this_minute and rt.settings.sentry_dsn:
        reporting.sweep_check_in()
