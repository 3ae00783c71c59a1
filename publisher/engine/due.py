"""The due posts a sweep takes: a walk of the partial index ``ix_posts_due`` by key.

A sweep takes its due posts in batches, in the index's order ``(next_run_at, id)``. Each
batch starts after the key of the last post of the batch before, so no batch reads the
rows an earlier one took: a sweep's cost follows its due posts, whatever the backlog.
A batch is taken and marked enqueued by one statement (``UPDATE ... RETURNING``) where
the database has it, so the mark probes the primary key of the rows the walk found
instead of searching the due set for a list of ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Alias

from publisher.core.models import DUE_WHERE, Credential, Post
from publisher.core.states import DUE_STATES

DUE = [s.value for s in DUE_STATES]


class Key(NamedTuple):
    """A post's place in the walk: the order of ``ix_posts_due``."""

    next_run_at: datetime
    id: int


@dataclass(frozen=True)
class Window:
    """Which posts a sweep takes: due by ``horizon`` and not enqueued yet, or marked
    before ``cutoff`` (their message was lost); none of a paused credential or provider."""

    horizon: datetime
    cutoff: datetime | None
    paused_providers: frozenset[str]


class _DueIndex(Alias):
    """``posts`` read through ``ix_posts_due``. Without statistics SQLite's planner
    prefers ``ix_posts_state_next_run_at``, which yields the due rows out of order: each
    batch would then read and sort every due row after the bound (quadratic again).
    ``INDEXED BY`` also makes SQLite refuse the query if the index cannot serve it."""

    inherit_cache = True


@compiles(_DueIndex, "sqlite")
def _indexed_by(element: _DueIndex, compiler: SQLCompiler, **kw: Any) -> str:
    sql: str = compiler.visit_alias(element, **kw)  # type: ignore[no-untyped-call]
    return f"{sql} INDEXED BY ix_posts_due" if kw.get("asfrom") else sql


_due = aliased(Post, _DueIndex._construct(Post.__table__, name="due"))


def take(
    session: Session, window: Window, after: Key | None, limit: int, now: datetime
) -> list[Key]:
    """Marks up to ``limit`` posts of ``window`` past ``after`` as enqueued at ``now``;
    returns their keys in walk order (fewer than ``limit``: the walk is over). On
    PostgreSQL a row another transaction holds is skipped (SKIP LOCKED): a second sweep
    running at the same time takes other posts."""
    dialect = session.get_bind().dialect.name
    keys: list[Key] = []
    for bound in _bounds(window.horizon, after, dialect):
        query = _walk(window, bound, limit - len(keys))
        if dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=_due)
        keys += _take(session, query, now)
        if len(keys) == limit:
            break
    return keys


def _bounds(horizon: datetime, after: Key | None, dialect: str) -> list[ColumnElement[bool]]:
    """The index ranges the walk goes on with after ``after``, up to ``horizon``.
    PostgreSQL seeks the row comparison directly. SQLite seeks a row value only on real
    columns (``id`` is its rowid), so it takes the rest of ``after``'s instant first
    (without the horizon, which the instant is within and which SQLite, once it has
    statistics, would rather seek by), then the later instants."""
    due_by = _due.next_run_at <= horizon
    if after is None:
        return [due_by]
    run_at = bindparam("after_run_at", after.next_run_at, type_=Post.next_run_at.type)
    post_id = bindparam("after_id", after.id, type_=Post.id.type)
    if dialect == "postgresql":
        return [due_by & (tuple_(_due.next_run_at, _due.id) > tuple_(run_at, post_id))]
    return [
        (_due.next_run_at == run_at) & (_due.id > post_id),
        due_by & (_due.next_run_at > run_at),
    ]


def _take(session: Session, query: Select[datetime | None, int], now: datetime) -> list[Key]:
    if session.get_bind().dialect.update_returning:
        rows = session.execute(
            update(Post)
            .where(Post.id.in_(query.with_only_columns(_due.id)))
            .values(enqueued_at=now)
            .returning(Post.next_run_at, Post.id)
            .execution_options(synchronize_session=False)
        )
        # RETURNING comes in no promised order.
        return sorted(Key(row.next_run_at, row.id) for row in rows)
    # SQLite before 3.35 (no RETURNING): select, then mark. SQLite has one writer and the
    # mark only moves posts still due.
    keys = [Key(row.next_run_at, row.id) for row in session.execute(query)]
    if keys:
        mark(session, [key.id for key in keys], now)
    return keys


def mark(session: Session, ids: list[int], value: datetime | None) -> None:
    """Set (or clear, with None) the enqueue mark of the posts of ``ids`` still due."""
    session.execute(
        update(Post)
        .where(Post.id.in_(ids), Post.state.in_(DUE))
        .values(enqueued_at=value)
        .execution_options(synchronize_session=False)
    )


def left(session: Session, window: Window, after: Key | None) -> int:
    """How many posts of ``window`` lie past ``after`` in the walk: those a sweep that
    stopped there left for the next one. Marks nothing."""
    dialect = session.get_bind().dialect.name
    total = 0
    for bound in _bounds(window.horizon, after, dialect):
        found = _in_window(window, bound).with_only_columns(
            func.count(), maintain_column_froms=True
        )
        total += session.scalar(found) or 0
    return total


def _walk(window: Window, bound: ColumnElement[bool], limit: int) -> Select[datetime | None, int]:
    return _in_window(window, bound).order_by(_due.next_run_at, _due.id).limit(limit)


def _in_window(window: Window, bound: ColumnElement[bool]) -> Select[datetime | None, int]:
    unsent = _due.enqueued_at.is_(None)
    paused = window.paused_providers
    return (
        select(_due.next_run_at, _due.id)
        .join(Credential, Credential.id == _due.credential_id)
        .where(
            # The partial index's own predicate, as literal SQL: with bound parameters
            # neither SQLite nor PostgreSQL's generic plan could prove it and use the index.
            text(DUE_WHERE),
            bound,
            unsent if window.cutoff is None else or_(unsent, _due.enqueued_at < window.cutoff),
            Credential.paused_at.is_(None),
            Credential.provider.not_in(paused) if paused else true(),
        )
    )
