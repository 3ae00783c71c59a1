"""Persisting state transitions: compare-and-set in SQL, one event row per move.

Every move reads the row's state and version, asks ``states`` where the trigger leads,
and updates the row only if state and version are still what it read (the guard), writing
the event row in the same transaction. Two processes can never both move one row: the
loser's UPDATE matches nothing and it gets ``LostRace``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from publisher.core.models import Post, PostEvent
from publisher.core.states import Actor, State, Trigger, destination
from publisher.errors import LostRace, NotFound


def _insert_event(
    session: Session,
    post_id: int,
    source: State,
    dest: State,
    trigger: Trigger,
    actor: Actor,
    reason: str | None,
    now: datetime,
) -> None:
    session.execute(
        insert(PostEvent).values(
            post_id=post_id,
            from_state=source.value,
            to_state=dest.value,
            trigger=trigger.value,
            reason=reason,
            actor=actor.value,
            at=now,
        )
    )


def guarded_update(
    session: Session,
    post_id: int,
    *,
    trigger: Trigger,
    actor: Actor,
    source: State,
    version: int,
    now: datetime,
    reason: str | None = None,
    changes: Mapping[str, Any] | None = None,
    lease_owner: str | None = None,
    lease_expired_by: datetime | None = None,
) -> bool:
    """Move the row from ``source`` at ``version``; True if this call won.

    With ``lease_owner`` the row must also still be leased to that owner (the fence for a
    worker whose lease may have expired); with ``lease_expired_by`` its lease must have
    expired by then (a rescue loses to a worker that renewed its lease in time). Raises
    ``IllegalTransition`` if the table has no such edge; returns False, writing nothing,
    if the row changed underneath.
    """
    dest = destination(trigger, source, actor)
    statement = (
        update(Post)
        .where(Post.id == post_id, Post.state == source.value, Post.version == version)
        .values(state=dest.value, version=Post.version + 1, updated_at=now, **(changes or {}))
        .execution_options(synchronize_session=False)
    )
    if lease_owner is not None:
        statement = statement.where(Post.lease_owner == lease_owner)
    if lease_expired_by is not None:
        statement = statement.where(Post.lease_expires_at < lease_expired_by)
    if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
        return False
    _insert_event(session, post_id, source, dest, trigger, actor, reason, now)
    return True


def move(
    session: Session,
    post_id: int,
    trigger: Trigger,
    actor: Actor,
    now: datetime,
    *,
    reason: str | None = None,
    changes: Mapping[str, Any] | None = None,
) -> Post:
    """Fire ``trigger`` on the post and return it refreshed.

    Raises ``NotFound``, ``IllegalTransition`` (with the current state) or ``LostRace``.
    """
    row = session.execute(select(Post.state, Post.version).where(Post.id == post_id)).one_or_none()
    if row is None:
        raise NotFound(f"post {post_id} not found", post_id=post_id)
    source = State(row.state)
    won = guarded_update(
        session,
        post_id,
        trigger=trigger,
        actor=actor,
        source=source,
        version=row.version,
        now=now,
        reason=reason,
        changes=changes,
    )
    if not won:
        current = session.execute(select(Post.state).where(Post.id == post_id)).scalar_one()
        raise LostRace(
            f"post {post_id} changed while moving it ({trigger.value}); it is now {current!r}",
            state=current,
        )
    post = session.get(Post, post_id, populate_existing=True)
    assert post is not None
    return post
