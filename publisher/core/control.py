"""Operator switches and engine facts kept in the database's ``control`` table.

The global kill switch (``paused``) and the sweep's heartbeat live here, so every web,
worker and beat process (and the watchdog) read the same truth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.core.models import Control, Post
from publisher.core.states import DUE_STATES

PAUSED = "paused"
HEARTBEAT = "sweep_heartbeat"


def read(session: Session, key: str) -> dict[str, Any] | None:
    row = session.execute(select(Control.value).where(Control.key == key)).scalar_one_or_none()
    return None if row is None else dict(row)


def write(
    session: Session, key: str, value: dict[str, Any], now: datetime, *, db_clock: bool = False
) -> None:
    """Store ``value``; with ``db_clock`` the row's time is the database's own (for ages
    the watchdog measures on that same clock, whatever the writing host's clock says)."""
    row = session.get(Control, key)
    if row is None:
        try:
            with session.begin_nested():  # two processes may create the row at once
                session.add(Control(key=key, value=value, updated_at=now))
                session.flush()
        except IntegrityError:
            row = session.get(Control, key, populate_existing=True)
    if row is not None:
        row.value = value
        row.updated_at = now
    session.flush()
    if db_clock:
        session.execute(update(Control).where(Control.key == key).values(updated_at=func.now()))


def is_paused(session: Session) -> bool:
    value = read(session, PAUSED)
    return bool(value and value.get("paused"))


def set_paused(session: Session, paused: bool, now: datetime, by: str = "operator") -> None:
    write(session, PAUSED, {"paused": paused, "by": by, "at": now.isoformat()}, now)


def resume(session: Session, now: datetime, by: str = "operator") -> None:
    """Lift the kill switch; posts whose messages were dropped meanwhile go out next sweep."""
    set_paused(session, False, now, by)
    forget_enqueued(session)


def forget_enqueued(session: Session) -> None:
    """Treat every due post as not enqueued, so the next sweep sends it (again)."""
    session.execute(
        update(Post)
        .where(Post.state.in_([s.value for s in DUE_STATES]), Post.enqueued_at.is_not(None))
        .values(enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
