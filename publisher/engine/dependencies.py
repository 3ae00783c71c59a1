"""A process's engine dependencies, built once and passed explicitly.

Workers and the sweep receive a ``Dependencies`` instead of reaching for globals: the
settings, a session factory (and its engine), the token box, a pooled HTTP session, the
clock, how to enqueue a post (Celery in production, anything callable in tests), the call
slots per credential (Redis in production, ``concurrency``) and the process's cached read
of the kill switches.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control, db
from publisher.core.models import utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import TokenBox, token_box
from publisher.engine import exchange
from publisher.engine.concurrency import Limiter, LocalLimiter
from publisher.engine.plan import RetryPolicy

# Database connections a process keeps open. A publishing thread holds one only around
# its short transactions, never during the provider call, so a few serve dozens of
# threads; a burst may open more (one per thread, plus a few), closed again after use.
DB_POOL_KEPT = 16
DB_POOL_OVERFLOW = 4

Enqueue = Callable[[int, float], None]  # (post id, countdown in seconds)


@dataclass(frozen=True)
class QueueState:
    """The broker's publish queue, as far as it can tell."""

    waiting: int | None  # messages waiting; None: unknown
    oldest_sent_at: datetime | None = None  # when the oldest waiting one was sent


Backlog = Callable[[], QueueState]


def _unknown_backlog() -> QueueState:
    return QueueState(waiting=None)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Dependencies:
    settings: Settings
    sessions: sessionmaker[Session]
    box: TokenBox
    http: requests.Session
    enqueue: Enqueue
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=_owner)
    backlog: Backlog = _unknown_backlog
    limiter: Limiter = field(default_factory=LocalLimiter)  # call slots per credential
    # The global and provider kill switches, read at most once a second by this process.
    switches: control.PausesCache = field(default_factory=control.PausesCache)

    @property
    def engine(self) -> Engine:
        """The sessions' engine: the worker's hot path runs on its Core connections."""
        engine: Engine = self.sessions.kw["bind"]
        return engine

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.settings.http_connect_timeout, self.settings.http_timeout)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base=self.settings.retry_base, cap=self.settings.retry_max)

    @classmethod
    def build(
        cls,
        settings: Settings,
        enqueue: Enqueue,
        backlog: Backlog = _unknown_backlog,
        limiter: Limiter | None = None,
    ) -> Dependencies:
        """``limiter`` None: slots in this process only (``LocalLimiter``).

        Pools are sized for ``PUBLISHER_WORKER_CONCURRENCY`` threads: no thread ever
        waits for a database connection (``DB_POOL_KEPT`` stay open), and each has a
        keep-alive connection per provider host."""
        threads = settings.worker_concurrency
        kept = min(threads, DB_POOL_KEPT)
        engine = db.make_engine(
            settings.database_url,
            ping_idle_only=True,
            pool_size=kept,
            max_overflow=threads - kept + DB_POOL_OVERFLOW,
        )
        return cls(
            settings,
            db.make_sessionmaker(engine),
            token_box(settings),
            exchange.new_session(per_host=threads),
            enqueue,
            backlog=backlog,
            limiter=limiter or LocalLimiter(),
        )
