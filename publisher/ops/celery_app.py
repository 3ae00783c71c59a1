"""The Celery application (``celery -A publisher worker|beat``): configuration only.

Redis is the broker; a message carries only a post id and the database row is the truth.
Tasks are acknowledged late and re-queued if their worker dies; the row's lease decides
who may act, so a redelivered message is harmless. Countdowns are never longer than one
lookahead, well inside the broker's visibility timeout.

The pool is Celery's ``threads`` pool: a publish is almost all waiting (the provider, the
database, Redis), so one process keeps ``PUBLISHER_WORKER_CONCURRENCY`` calls in flight
(64 by default) where a prefork pool kept one per CPU. Threads rather than gevent or
eventlet: psycopg 3, SQLite's C module and the deadline watchdog block the OS thread,
and monkey-patching every library on the hot path is a risk we do not need, since the
GIL is released while waiting. The prefetch multiplier is 1: with late acks a worker
then holds no message beyond those it is running, so a slow call never strands a
prefetched post behind it while another worker idles (countdown messages are the
exception: Celery holds those until they are due, whatever the prefetch).
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from publisher.core.settings import Settings
from publisher.ops import broker_workarounds
from publisher.ops.constants import BROKER_VISIBILITY_TIMEOUT, CONTROL_QUEUE, QUEUE

SWEEP_ENTRY = "publisher-sweep"
PRUNE_ENTRY = "publisher-prune"


def create_app(settings: Settings) -> Celery:
    broker_workarounds.install()  # before any broker connection: see the module
    app = Celery("publisher", include=["publisher.ops.tasks"])
    interval = settings.sweep_interval
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        # A worker rides out a broker outage of any length: it retries the connection
        # forever (Celery's default gives up, and exits, after 100 tries), and keeps
        # running tasks running (their late acks are lost with the connection, so Redis
        # delivers the message again; the post's lease makes the second run harmless).
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_consumer="publisher.ops.broker_workarounds:PublisherConsumer",
        broker_transport_options={"visibility_timeout": BROKER_VISIBILITY_TIMEOUT},
        task_default_queue=QUEUE,
        task_queues=(Queue(QUEUE), Queue(CONTROL_QUEUE)),  # type: ignore[no-untyped-call]
        task_routes={
            "publisher.sweep": {"queue": CONTROL_QUEUE},
            "publisher.deliver_notifications": {"queue": CONTROL_QUEUE},
            "publisher.prune": {"queue": CONTROL_QUEUE},
        },
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_serializer="json",
        accept_content=["json"],
        worker_pool="threads",
        worker_concurrency=settings.worker_concurrency,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        beat_schedule={
            SWEEP_ENTRY: {"task": "publisher.sweep", "schedule": interval},
            PRUNE_ENTRY: {"task": "publisher.prune", "schedule": settings.retain_interval},
        },
        beat_scheduler="publisher.ops.beat_scheduler:HealingRedBeatScheduler",
        beat_max_loop_interval=min(interval, 5.0),
        redbeat_redis_url=settings.redis_client_url,
        redbeat_key_prefix="publisher:redbeat:",
        redbeat_lock_timeout=max(3 * interval, 15.0),
        timezone="UTC",
        enable_utc=True,
    )
    return app


app = create_app(Settings.from_env())
