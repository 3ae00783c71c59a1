"""Operator switches and engine facts kept in the database's ``control`` table.

The kill switches (all publishing, one provider, one credential) and the sweep's
heartbeat live here and on the credential rows, so every web, worker and beat process
(and the watchdog) read the same truth. A switch holds posts, it never cancels them: while
it is on nothing of its scope is enqueued or published, and when it is lifted every held
post goes out with no attempt used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.core.db import Executor
from publisher.core.models import CONTROL, Control, Credential, Post
from publisher.core.states import DUE_STATES
from publisher.errors import NotFound

PAUSED = "paused"
PAUSED_PROVIDERS = "paused_providers"  # {provider: {"by": ..., "at": ...}}
HEARTBEAT = "sweep_heartbeat"

# How long (s) a worker process trusts its last read of the global and provider switches:
# one read a second instead of one per message, and a pause still stops claims within it.
PAUSES_TTL = 1.0


@dataclass(frozen=True)
class Pauses:
    """The switches the engine obeys before publishing (credentials: on their rows)."""

    everything: bool = False
    providers: frozenset[str] = field(default_factory=frozenset)


_READ_PAUSES = select(CONTROL.c.key, CONTROL.c.value).where(
    CONTROL.c.key.in_([PAUSED, PAUSED_PROVIDERS])
)


def pauses(executor: Executor) -> Pauses:
    """The global and per-provider switches, in one read."""
    rows: dict[str, dict[str, Any]] = {key: value for key, value in executor.execute(_READ_PAUSES)}
    everything = bool((rows.get(PAUSED) or {}).get("paused"))
    return Pauses(everything, frozenset(rows.get(PAUSED_PROVIDERS) or {}))


class PausesCache:
    """``pauses`` read at most once per ``ttl`` seconds, shared by a process's threads.

    A value is served for ``ttl`` seconds after the read that produced it began, so a
    switch turned on is obeyed within ``ttl`` (plus one read). One thread reads while the
    others wait for its answer; a failed read is not cached (the next call reads again).
    ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(self, ttl: float = PAUSES_TTL, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: Pauses | None = None
        self._expires = 0.0

    def get(self, engine: Engine) -> Pauses:
        with self._lock:
            if self._value is None or self._clock() >= self._expires:
                started = self._clock()
                with engine.connect() as connection:
                    self._value = pauses(connection)
                self._expires = started + self._ttl
            return self._value


def set_provider_paused(
    session: Session, provider: str, paused: bool, now: datetime, by: str = "operator"
) -> None:
    """Hold (or release) every post of ``provider``'s credentials."""
    value = read(session, PAUSED_PROVIDERS) or {}
    if paused:
        value[provider] = {"by": by, "at": now.isoformat()}
    else:
        value.pop(provider, None)
        forget_enqueued(session, Post.credential_id.in_(_credentials_of(provider)))
    write(session, PAUSED_PROVIDERS, value, now)


def set_credential_paused(
    session: Session, credential_id: int, paused: bool, now: datetime, by: str = "operator"
) -> Credential:
    """Hold (or release) every post of one credential."""
    credential = session.get(Credential, credential_id)
    if credential is None:
        raise NotFound(f"credential {credential_id} not found", credential_id=credential_id)
    credential.paused_at = now if paused else None
    credential.paused_by = by if paused else None
    session.flush()
    if not paused:
        forget_enqueued(session, Post.credential_id == credential_id)
    return credential


def _credentials_of(provider: str) -> Any:
    return select(Credential.id).where(Credential.provider == provider).scalar_subquery()


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


def forget_enqueued(session: Session, scope: ColumnElement[bool] | None = None) -> None:
    """Treat every due post (of ``scope``) as not enqueued: the next sweep sends it."""
    session.execute(
        update(Post)
        .where(
            Post.state.in_([s.value for s in DUE_STATES]),
            Post.enqueued_at.is_not(None),
            true() if scope is None else scope,
        )
        .values(enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
