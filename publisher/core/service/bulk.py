"""Bulk actions (the dashboard's posts list): "retry now / re-approve" or "cancel" on a
selection of posts, or on every post matching a filter.

Each post goes through the same service function as a single post would (``retry_now``,
``cancel``), so the state machine decides, never this module. Posts are taken in batches,
one short write transaction each, each post in a savepoint: a post that changed state
since it was read (a worker claimed it, another operator acted) is skipped and counted,
and the rest of its batch goes on. One audit row records the action; every batch adds
what it did to that row in its own transaction, so the row's count is always what was
committed, even if the action is cut short between two batches.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import db
from publisher.core.dashboard import post_actions, post_search
from publisher.core.dashboard.post_actions import PostAction
from publisher.core.dashboard.post_search import PostFilter
from publisher.core.models import DashboardAction, Post
from publisher.core.service.audit import record_action
from publisher.core.service.posts import cancel, retry_now
from publisher.errors import Conflict, InvalidInput, NotFound

# Posts a batch: one short write transaction (on SQLite it holds the write lock, which the
# workers wait for; a few hundred moves take well under a second).
BATCH = 200
# Posts a selection may name: a page of the list at most (post_search.MAX_PAGE_SIZE).
MAX_SELECTION = post_search.MAX_PAGE_SIZE
RETRY_REASON = "bulk retry now"  # the moves' event reason, telling them from one post's


ACTION_PREFIX = "bulk_"  # the audit row's action: bulk_retry_now, bulk_cancel


class BulkAction(enum.StrEnum):
    RETRY_NOW = "retry_now"  # a retry due now; a draft or cancelled post approved for now
    CANCEL = "cancel"  # a draft, approved or waiting post cancelled (reason "user")


def _retry(session: Session, post_id: int, now: datetime) -> object:
    return retry_now(session, post_id, now, reason=RETRY_REASON)


def _cancel(session: Session, post_id: int, now: datetime) -> object:
    return cancel(session, post_id, now)


_ACTS: Mapping[BulkAction, Callable[[Session, int, datetime], object]] = {
    BulkAction.RETRY_NOW: _retry,
    BulkAction.CANCEL: _cancel,
}


def applies_to(action: BulkAction) -> frozenset[str]:
    """The states an operator may apply ``action`` to, read from the state machine (as a
    post's page offers it: ``post_actions``)."""
    return frozenset(s.value for s in post_actions.states_for(PostAction(action.value)))


@dataclass(frozen=True)
class Matching:
    """Every post matching ``filter``, up to the newest id matching when it was counted
    (``upto``): posts created after the confirmation are not touched."""

    filter: PostFilter
    upto: int | None = None


@dataclass(frozen=True)
class Selection:
    ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.ids:
            raise InvalidInput("id", "select at least one post")
        if len(self.ids) > MAX_SELECTION:
            raise InvalidInput("id", f"select at most {MAX_SELECTION} posts")


Target = Matching | Selection


@dataclass(frozen=True)
class Preview:
    """What a confirmation says: how many posts are matched (or selected and exist), how
    many of them the action applies to now, and (matching) the newest matching id."""

    total: int
    applicable: int
    upto: int | None = None


@dataclass(frozen=True)
class Outcome:
    action: BulkAction
    done: int
    skipped: int  # not in a state the action applies to when their turn came
    audit_id: int


def _narrowed(f: PostFilter, action: BulkAction) -> PostFilter | None:
    """``f`` restricted to the states ``action`` applies to; None when none is left."""
    states = applies_to(action) & f.states if f.states else applies_to(action)
    return dataclasses.replace(f, states=frozenset(states)) if states else None


def _count_selected(
    session: Session, ids: Sequence[int], states: frozenset[str] = frozenset()
) -> int:
    query = select(func.count()).select_from(Post).where(Post.id.in_(ids))
    if states:
        query = query.where(Post.state.in_(sorted(states)))
    return session.execute(query).scalar_one()


def preview(session: Session, action: BulkAction, target: Target) -> Preview:
    """What ``action`` on ``target`` would touch now (nothing is written)."""
    if isinstance(target, Selection):
        total = _count_selected(session, target.ids)
        return Preview(total, _count_selected(session, target.ids, applies_to(action)))
    total = post_search.count(session, target.filter)
    newest = post_search.page(session, target.filter, size=1, matches=total).rows
    narrowed = _narrowed(target.filter, action)
    applicable = post_search.count(session, narrowed) if narrowed else 0
    return Preview(total, applicable, newest[0].id if newest else None)


def describe(target: Target) -> dict[str, Any]:
    """The target as the audit row's detail: the filter's set fields, or the ids."""
    if isinstance(target, Selection):
        return {"selected": list(target.ids)}
    fields = {}
    for field in dataclasses.fields(target.filter):
        value = getattr(target.filter, field.name)
        if value is None or value == frozenset() or value == "":
            continue
        if isinstance(value, frozenset):
            value = sorted(value)
        fields[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return {"filter": fields, "upto": target.upto}


def apply(
    database: sessionmaker[Session], who: str, action: BulkAction, now: datetime, target: Target
) -> Outcome:
    """Applies ``action`` to every post of ``target`` it applies to, batch by batch.

    Never raises for a post that cannot take the action (it is skipped and counted);
    one audit row (``bulk_<action>``) carries the posts done and, in its detail, the
    target and the posts skipped."""
    detail = {**describe(target), "skipped": 0}
    with db.transaction(database) as session:
        audit_id = record_action(session, who, ACTION_PREFIX + action.value, now, detail=detail).id
    done = skipped = after = 0
    while True:
        with db.transaction(database) as session:
            ids = _next_batch(session, action, target, after)
            if not ids:
                return Outcome(action, done, skipped, audit_id)
            did, passed = _act_on(session, ids, _ACTS[action], now)
            _tally(session, audit_id, did, passed)
        done, skipped, after = done + did, skipped + passed, ids[-1]


def _next_batch(session: Session, action: BulkAction, target: Target, after: int) -> list[int]:
    """The next ``BATCH`` ids of the target above ``after``, ascending (matching: only
    posts in a state the action applies to, up to ``upto``)."""
    if isinstance(target, Selection):
        return sorted(i for i in set(target.ids) if i > after)[:BATCH]
    narrowed = _narrowed(target.filter, action)
    if narrowed is None:
        return []
    found = next(post_search.all_ids(session, narrowed, BATCH, after), [])
    return [i for i in found if target.upto is None or i <= target.upto]


def _act_on(
    session: Session,
    ids: Sequence[int],
    act: Callable[[Session, int, datetime], object],
    now: datetime,
) -> tuple[int, int]:
    """(done, skipped): each post in a savepoint, so a refused one leaves no trace."""
    done = skipped = 0
    for post_id in ids:
        try:
            with session.begin_nested():
                act(session, post_id, now)
        except (Conflict, NotFound):  # changed state meanwhile, or gone
            skipped += 1
        else:
            done += 1
    return done, skipped


def _tally(session: Session, audit_id: int, done: int, skipped: int) -> None:
    """Adds a batch's counts to the audit row, in the batch's transaction."""
    row = session.get(DashboardAction, audit_id)
    assert row is not None  # written and committed before the first batch
    row.posts += done
    row.detail = {**row.detail, "skipped": row.detail.get("skipped", 0) + skipped}


def recorded(session: Session, audit_id: int) -> Outcome:
    """The outcome of a bulk action, as its audit row has it; ``NotFound`` for an id that
    names no bulk action."""
    row = session.get(DashboardAction, audit_id)
    name = row.action.removeprefix(ACTION_PREFIX) if row is not None else ""
    if row is None or not row.action.startswith(ACTION_PREFIX) or name not in _ACTS:
        raise NotFound(f"no bulk action {audit_id}", audit_id=audit_id)
    return Outcome(BulkAction(name), row.posts, int(row.detail.get("skipped", 0)), row.id)
