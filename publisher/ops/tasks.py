"""Celery tasks: one-line wrappers over plain code (``worker.process``, ``sweep.run``)."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime

import redis
from celery import Task
from celery.signals import beat_init, celeryd_init, worker_process_init
from sqlalchemy.exc import InterfaceError, OperationalError

from publisher.core.notifications import deliver_pending
from publisher.core.settings import Settings
from publisher.engine import refresh_when, sweep, worker
from publisher.engine.concurrency import RedisLimiter
from publisher.engine.deadline import destinations
from publisher.engine.dependencies import Dependencies, QueueState
from publisher.engine.telemetry import sentry
from publisher.ops import job_lease, retention_job
from publisher.ops.celery_app import app
from publisher.ops.constants import (
    DB_RETRY_BASE,
    DB_RETRY_MAX,
    NOTIFY_LOCK_KEY,
    NOTIFY_LOCK_SECONDS,
    QUEUE,
    REDIS_HEARTBEAT_KEY,
    SENT_AT_HEADER,
    SENTRY_CHECK_IN_KEY,
    SWEEP_LOCK_INTERVALS,
    SWEEP_LOCK_KEY,
    SWEEP_LOCK_MIN_SECONDS,
)

log = logging.getLogger(__name__)

# The database is unreachable: the post is untouched (the claim did not commit), so the
# message is kept and tried again.
DATABASE_DOWN = (OperationalError, InterfaceError)

# A worker waits this long (s) for Redis to answer a call-slot request before it treats
# the credential as busy: a slot is taken before every provider call, so a stalled Redis
# must cost seconds, not the post's lease.
REDIS_SOCKET_TIMEOUT = 5.0

_dependencies: Dependencies | None = None
_dependencies_lock = threading.Lock()  # the pool's threads build them once between them


def enqueue(post_id: int, countdown: float) -> None:
    """Send the message for ``post_id``; a countdown below 10 ms is sent as immediate.

    The message says when it was sent (``SENT_AT_HEADER``): the sweep compares the
    oldest waiting one with its marks to tell a lost message from a waiting one.
    """
    headers = {SENT_AT_HEADER: time.time()}
    if countdown >= 0.01:
        publish.apply_async((post_id,), countdown=countdown, headers=headers)
    else:
        publish.apply_async((post_id,), headers=headers)


def backlog() -> QueueState:
    """The publish queue: how many messages wait, and when the oldest was sent."""
    try:
        with app.connection_for_write() as connection:
            client = connection.default_channel.client
            waiting = int(client.llen(QUEUE))
            # kombu's Redis transport LPUSHes and BRPOPs: the oldest message is last.
            oldest = client.lindex(QUEUE, -1) if waiting else None
    except Exception:
        log.warning("could not read the queue", exc_info=True)
        return QueueState(waiting=None)
    return QueueState(waiting, _sent_at(oldest))


def _sent_at(message: bytes | None) -> datetime | None:
    if message is None:
        return None
    try:
        sent = json.loads(message)["headers"][SENT_AT_HEADER]
        return datetime.fromtimestamp(float(sent), UTC)
    except (ValueError, KeyError, TypeError):
        return None  # sent by an older version, or not ours: cannot tell


def dependencies() -> Dependencies:
    """This process's engine dependencies, built on first use (after a prefork fork);
    shared by the threads of a threads pool (the engine, the HTTP session and Redis
    client are thread-safe pools)."""
    global _dependencies
    with _dependencies_lock:
        if _dependencies is None:
            settings = Settings.from_env()
            _dependencies = Dependencies.build(settings, enqueue, backlog, limiter(settings))
        return _dependencies


def limiter(settings: Settings) -> RedisLimiter:
    """Call slots per credential in the broker's Redis, which every worker reaches."""
    client = redis.Redis.from_url(
        settings.redis_client_url,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT,
    )
    return RedisLimiter(client)


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


@app.task(name="publisher.publish", ignore_result=True, bind=True, max_retries=None)
def publish(self: Task, post_id: int) -> str:
    """Publish one post. When the database is unreachable (before or at the claim),
    the message is sent again with a growing countdown instead of being dropped."""
    try:
        return worker.process(int(post_id), dependencies()).value
    except DATABASE_DOWN as exc:
        countdown = min(DB_RETRY_MAX, DB_RETRY_BASE * 2**self.request.retries)
        log.warning("post %s: database unavailable; retrying in %.0f s", post_id, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc


@app.task(name="publisher.sweep", ignore_result=True)
def sweep_task() -> dict[str, object]:
    """One sweep at a time: beat's ticks during a long sweep are skipped, not stacked."""
    deps = dependencies()
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        report = sweep_alone(deps, client, sweep_lock_seconds(deps.settings))
    if report is None:
        return {"skipped": True}
    _redis_heartbeat(deps, asdict(report))
    if not report.paused:
        _send_refreshes(deps)
    if deps.settings.notify_url and not report.paused:
        deliver_notifications.apply_async()
    return asdict(report)


def sweep_lock_seconds(settings: Settings) -> float:
    """The sweep's lease: renewed after every batch, so it only has to outlast one."""
    return max(SWEEP_LOCK_MIN_SECONDS, SWEEP_LOCK_INTERVALS * settings.sweep_interval)


def sweep_alone(
    deps: Dependencies, client: redis.Redis, seconds: float
) -> sweep.SweepReport | None:
    """One sweep under the sweep's lease (``seconds`` long, renewed after every batch; a
    sweep that loses it stops there); None, with no sweep, when another sweep holds it."""
    with job_lease.hold(client, SWEEP_LOCK_KEY, seconds, deps.owner) as lease:
        if lease is None:
            log.info("sweep skipped: another sweep is still running")
            return None
        return sweep.run(deps, on_batch=lease.renew)


def _send_refreshes(deps: Dependencies) -> None:
    """A refresh message per credential whose token expires soon (``refresh_when``); a
    failure here never fails the sweep (the next one tries again)."""
    try:
        refresh_when.enqueue_due(deps, lambda credential_id: refresh.apply_async((credential_id,)))
    except Exception:
        log.warning("could not send the token refreshes", exc_info=True)


@app.task(name="publisher.refresh_credential", ignore_result=True)
def refresh(credential_id: int) -> str:
    """Refresh one credential's token ahead of its expiry (single flight: see
    ``engine/refresh``)."""
    return refresh_when.proactive(dependencies(), int(credential_id)).status.value


@app.task(name="publisher.prune", ignore_result=True)
def prune_task() -> dict[str, object]:
    """Prune finished posts' old rows (``core.retention``), one prune at a time."""
    deps = dependencies()
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        return retention_job.run(deps.settings, deps.sessions, client, deps.owner, deps.clock())


@app.task(name="publisher.deliver_notifications", ignore_result=True)
def deliver_notifications() -> int:
    """Deliver the outbox (its own task, so a slow main app never delays the sweep).

    A job lease (``NOTIFY_LOCK_KEY``) keeps two deliveries from running at once.
    """
    deps = dependencies()
    settings = deps.settings
    if not settings.notify_url:
        return 0
    with (
        app.connection_for_write() as connection,
        job_lease.hold(
            connection.default_channel.client, NOTIFY_LOCK_KEY, NOTIFY_LOCK_SECONDS, deps.owner
        ) as lease,
    ):
        if lease is None:
            log.info("notification delivery skipped: another delivery is still running")
            return 0
        # The main app's URL under the same destination rules as a provider's.
        with destinations(settings.allow_private_urls):
            return deliver_pending(
                deps.sessions,
                deps.http,
                settings.notify_url,
                settings.notify_secret or "",
                deps.clock(),
                deps.timeout,
                on_delivery=lease.renew,
            )


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
