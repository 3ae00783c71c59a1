"""Persisting state transitions: compare-and-set in SQL, one event row per move.

Every move reads the row's state and version, asks ``states`` where the trigger leads,
and updates the row only if state and version are still what it read (the guard), writing
the event row in the same transaction. Two processes can never both move one row: the
loser's UPDATE matches nothing and it gets ``LostRace``. The statements are built once,
on the table, and run on an ORM ``Session`` or a Core ``Connection`` (the worker's hot
path) alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Insert,
    Update,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from publisher.core.db import Executor, is_postgresql
from publisher.core.models import POST_EVENTS, POSTS, Post
from publisher.core.states import Actor, State, Trigger, destination
from publisher.errors import LostRace, NotFound

# A move's parameter names; none is a column of ``posts``, so every other key of a
# move's parameters names a column to SET (Core derives the SET clause from the keys).
_ID, _SOURCE, _SEEN, _DEST, _NOW = "post_id", "source", "seen_version", "dest", "now"
_OWNER, _EXPIRED_BY = "owner", "expired_by"


def _move_statement(*fences: ColumnElement[bool]) -> Update:
    """The compare-and-set of a move: on (id, state, version) and any further ``fences``."""
    return (
        update(POSTS)
        .where(
            POSTS.c.id == bindparam(_ID),
            POSTS.c.state == bindparam(_SOURCE),
            POSTS.c.version == bindparam(_SEEN),
            *fences,
        )
        .values(state=bindparam(_DEST), version=POSTS.c.version + 1, updated_at=bindparam(_NOW))
    )


# Built once: SQLAlchemy caches each compiled form (one per set of changed columns), so a
# move costs no statement building on the hot path. Keyed by (lease_owner, lease_expired_by).
_MOVES: dict[tuple[bool, bool], Update] = {
    (False, False): _move_statement(),
    (True, False): _move_statement(POSTS.c.lease_owner == bindparam(_OWNER)),
    (False, True): _move_statement(POSTS.c.lease_expires_at < bindparam(_EXPIRED_BY)),
    (True, True): _move_statement(
        POSTS.c.lease_owner == bindparam(_OWNER),
        POSTS.c.lease_expires_at < bindparam(_EXPIRED_BY),
    ),
}
_ADD_EVENT = insert(POST_EVENTS)
_EVENT_FROM_MOVE = ("post_id", "from_state", "to_state", "trigger", "reason", "actor", "at")
_SET = "set_"  # a changed column's parameter in a one-statement move: ``set_<column>``
_ONE_STATEMENT: dict[tuple[bool, bool, tuple[str, ...]], Insert] = {}


def _one_statement(fences: tuple[bool, bool], columns: tuple[str, ...]) -> Insert:
    """PostgreSQL: the move and its event row in one statement, the UPDATE in a
    data-modifying CTE whose RETURNING feeds the INSERT: nothing is inserted when the
    guard matched nothing, and one round trip instead of two. One per set of changed
    columns, built on first use."""
    key = (*fences, columns)
    if key not in _ONE_STATEMENT:
        sets = {c: bindparam(_SET + c, type_=POSTS.c[c].type) for c in columns}
        moved = _MOVES[fences].values(sets).returning(POSTS.c.id).cte("moved")
        event = [bindparam(f"event_{c}", type_=POST_EVENTS.c[c].type) for c in _EVENT_FROM_MOVE[1:]]
        _ONE_STATEMENT[key] = (
            insert(POST_EVENTS)
            .from_select(list(_EVENT_FROM_MOVE), select(moved.c.id, *event))
            .returning(POST_EVENTS.c.post_id)  # a row when the move won (no rowcount here)
        )
    return _ONE_STATEMENT[key]


def _event_row(
    post_id: int,
    source: State,
    dest: State,
    trigger: Trigger,
    actor: Actor,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The values of a move's row in ``post_events``."""
    return {
        "post_id": post_id,
        "from_state": source.value,
        "to_state": dest.value,
        "trigger": trigger.value,
        "reason": reason,
        "actor": actor.value,
        "at": now,
    }


def guarded_update(
    executor: Executor,
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
    if the row changed underneath. ``changes`` maps columns to values or SQL expressions.
    """
    dest = destination(trigger, source, actor)
    statement = _MOVES[lease_owner is not None, lease_expired_by is not None]
    params: dict[str, Any] = {_ID: post_id, _SOURCE: source.value, _SEEN: version}
    params |= {_DEST: dest.value, _NOW: now, _OWNER: lease_owner, _EXPIRED_BY: lease_expired_by}
    expressions = {}
    for column, value in (changes or {}).items():
        if isinstance(value, ClauseElement):
            expressions[column] = value
        else:
            params[column] = value
    event = _event_row(post_id, source, dest, trigger, actor, reason, now)
    if not expressions and is_postgresql(executor):
        return _move_in_one(executor, params, (changes or {}).keys(), event)
    if expressions:  # e.g. ``attempts - 1``: a statement of its own (still a cached compile)
        statement = statement.values(**expressions)
    if executor.execute(statement, params).rowcount != 1:  # type: ignore[attr-defined]
        return False
    executor.execute(_ADD_EVENT, event)
    return True


def _move_in_one(
    executor: Executor, params: dict[str, Any], columns: Iterable[str], event: dict[str, Any]
) -> bool:
    fences = (params[_OWNER] is not None, params[_EXPIRED_BY] is not None)
    changed = tuple(sorted(columns))
    values = {k: v for k, v in params.items() if k not in changed}
    values |= {_SET + c: params[c] for c in changed}
    values |= {f"event_{c}": event[c] for c in _EVENT_FROM_MOVE[1:]}
    statement = _one_statement(fences, changed)
    return executor.execute(statement, values).first() is not None


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
