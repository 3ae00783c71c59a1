"""The pipeline's liveness facts, measured on the database's clock (not the host's).

The watchdog (``ops/watchdog.py``) judges them and the dashboard shows them: how long
ago the last sweep wrote its heartbeat, and how long the oldest due post has waited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.core import control
from publisher.core.models import Control, Post, UTCDateTime
from publisher.core.states import DUE_STATES


def db_now(session: Session) -> datetime:
    """The database server's current time (aware, UTC)."""
    return session.execute(select(func.now(type_=UTCDateTime()))).scalar_one()


def heartbeat(session: Session) -> Control | None:
    """The last sweep's heartbeat row (its report and time); None: no sweep ever ran."""
    return session.get(Control, control.HEARTBEAT)


def heartbeat_age(session: Session, now: datetime) -> float | None:
    """Seconds since the last sweep's heartbeat; None: no sweep ever ran."""
    beat = heartbeat(session)
    return None if beat is None else (now - beat.updated_at).total_seconds()


def oldest_due(session: Session, now: datetime) -> datetime | None:
    """The time the longest-waiting due post became due; None: nothing is due."""
    return session.execute(
        select(func.min(Post.next_run_at)).where(
            Post.state.in_([s.value for s in DUE_STATES]), Post.next_run_at <= now
        )
    ).scalar_one_or_none()


def waited(due_at: datetime | None, now: datetime) -> float | None:
    """Seconds a post due at ``due_at`` has waited by ``now``; None: nothing is due."""
    return None if due_at is None else max(0.0, (now - due_at).total_seconds())


def oldest_due_age(session: Session, now: datetime) -> float | None:
    """Seconds the longest-waiting due post has waited; None: nothing is due."""
    return waited(oldest_due(session, now), now)
