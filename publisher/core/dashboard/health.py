"""Health at a glance: the numbers an operator reads first (issue 14's overview).

The last sweep and its age and the oldest due post come from ``core/liveness`` (the
watchdog's own measures, on the database's clock); the watchdog's verdict (beat's
schedule entry, its problem lines) is the watchdog's ``check``, which the caller passes
in, since it asks Redis and lives in the ops layer above this one. Workers are those
holding a post's lease now (Celery's inspect is a broadcast that waits for replies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from publisher.core import liveness
from publisher.core.dashboard.switches import Switch, switches_on
from publisher.core.models import DUE_WHERE, RUNNING_WHERE, Post

# A due post still waiting this long after its time is "late now": the sweep looks one
# interval (10 s) ahead and a publish takes seconds, so a minute means something is stuck.
LATE_AFTER = timedelta(seconds=60)


class Verdict(Protocol):
    """What the dashboard shows of the watchdog's ``Health``."""

    @property
    def healthy(self) -> bool: ...
    @property
    def schedule_entry(self) -> bool | None: ...
    @property
    def problems(self) -> list[str]: ...


class QueueLength(Protocol):
    """The part of a Redis client the queue depth needs (``redis.Redis`` has it)."""

    def llen(self, name: str) -> Any: ...


@dataclass(frozen=True)
class BrokerQueue:
    """The broker's queue to measure: a Redis client and the queue's name (the ops
    layer's ``QUEUE``, the list Celery's Redis transport keeps its messages in)."""

    client: QueueLength
    name: str


@dataclass(frozen=True)
class WorkerSeen:
    owner: str  # the lease owner (host, process, thread)
    running: int  # posts it holds now


@dataclass(frozen=True)
class Health:
    now: datetime  # the database's clock
    last_sweep_at: datetime | None
    last_sweep_age: float | None  # seconds
    last_sweep: dict[str, Any]  # the sweep's own report (sent, rescued, ...)
    watchdog: Verdict | None
    switches: tuple[Switch, ...]
    queue_depth: int | None  # None: no Redis client given, or Redis did not answer
    workers: tuple[WorkerSeen, ...]
    oldest_due_at: datetime | None
    oldest_due_age: float | None
    counts: dict[str, int] = field(default_factory=dict)  # posts by state
    late_now: int = 0


def queue_depth(broker: BrokerQueue | None) -> int | None:
    """Messages waiting in the broker's queue; None when Redis was not given or did not
    answer."""
    if broker is None:
        return None
    import redis

    try:
        return int(broker.client.llen(broker.name))
    except redis.RedisError:
        return None


def workers_seen(session: Session) -> tuple[WorkerSeen, ...]:
    """The lease owners of running posts, busiest first (the expired ones included: the
    sweep rescues them soon). The lease-expiry term lets SQLite read the running posts'
    partial index ``ix_posts_lease``; told by ANALYZE that most rows share a few states,
    its planner would otherwise scan every finished post (353 ms beside a million, not
    0.1 ms)."""
    rows = session.execute(
        select(Post.lease_owner, func.count())
        .where(
            text(RUNNING_WHERE),
            Post.lease_expires_at.is_not(None),  # always true of a running post: see above
            Post.lease_owner.is_not(None),
        )
        .group_by(Post.lease_owner)
        .order_by(func.count().desc(), Post.lease_owner)
    )
    return tuple(WorkerSeen(str(owner), count) for owner, count in rows)


def counts_by_state(session: Session) -> dict[str, int]:
    """Posts per state (an index-only scan of ``ix_posts_state_next_run_at``)."""
    rows = session.execute(select(Post.state, func.count()).group_by(Post.state))
    return {state: count for state, count in rows}


def late_now(session: Session, now: datetime, late_after: timedelta = LATE_AFTER) -> int:
    """Due posts still waiting ``late_after`` past their time (the due partial index)."""
    return session.execute(
        select(func.count())
        .select_from(Post)
        .where(text(DUE_WHERE), Post.next_run_at <= now - late_after)
    ).scalar_one()


def health(
    session: Session,
    *,
    watchdog: Verdict | None = None,
    broker: BrokerQueue | None = None,
    late_after: timedelta = LATE_AFTER,
) -> Health:
    """Measure now; never raises for an unhealthy pipeline (that is the answer)."""
    now = liveness.db_now(session)
    beat = liveness.heartbeat(session)
    oldest = liveness.oldest_due(session, now)
    return Health(
        now=now,
        last_sweep_at=None if beat is None else beat.updated_at,
        last_sweep_age=liveness.heartbeat_age(session, now),
        last_sweep={} if beat is None else dict(beat.value),
        watchdog=watchdog,
        switches=switches_on(session),
        queue_depth=queue_depth(broker),
        workers=workers_seen(session),
        oldest_due_at=oldest,
        oldest_due_age=liveness.waited(oldest, now),
        counts=counts_by_state(session),
        late_now=late_now(session, now, late_after),
    )


@dataclass(frozen=True)
class BeatVerdict:
    """Is beat sweeping? ``ok`` None: cannot tell (no limit known)."""

    ok: bool | None
    text: str


def beat_verdict(found: Health, limit: float | None) -> BeatVerdict:
    """Beat judged as the watchdog judges it: its schedule entry present (when the
    watchdog could ask Redis) and its last sweep younger than ``limit`` seconds."""
    age = found.last_sweep_age
    if found.watchdog is not None and found.watchdog.schedule_entry is False:
        return BeatVerdict(False, "the sweep's schedule entry is missing: beat will not sweep")
    if age is None:
        return BeatVerdict(False, "no sweep has ever run: is beat running?")
    if limit is None:
        return BeatVerdict(None, f"last sweep {age:.0f} s ago (no limit known)")
    if age > limit:
        late = f"last sweep {age:.0f} s ago (limit {limit:.0f} s): is beat running?"
        return BeatVerdict(False, late)
    return BeatVerdict(True, f"sweeping (last sweep {age:.0f} s ago)")
