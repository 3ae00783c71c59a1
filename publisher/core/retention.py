"""Retention: the history of finished posts is pruned, so the tables do not grow forever.

Only rows of *finished* posts (done or cancelled) go: their call log (``api_calls``),
their history (``post_events``) and their delivered notifications, each once older than
its limit (``PUBLISHER_RETAIN_*_DAYS``). The finished posts themselves stay unless
``PUBLISHER_RETAIN_POSTS_DAYS`` is set; a post still owing a notification stays. Rows of
unfinished posts and notifications not yet delivered are never touched.

The work is done in bounded batches, one short transaction each, walking the primary key
upwards in ranges of ``batch`` ids: a batch deletes at most ``batch`` rows of its table
(a batch of posts also deletes the rows still referring to them), and only rows of
finished posts. It never locks a row of an unfinished post, nor a table, so the sweep's
partial index (due posts) and the worker's claim never wait on a prune. Ids grow with
time (for posts: creation time), so the walk stops at the first range whose rows are
all newer than the limit (a row written out of order by a skewed clock waits for the
next run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from publisher.core.db import transaction
from publisher.core.models import ApiCall, Notification, Post, PostEvent, PostStep
from publisher.core.settings import Settings
from publisher.core.states import State

FINISHED = (State.DONE.value, State.CANCELLED.value)
# Rows deleted per transaction by default: big enough that a million rows take
# a thousand short transactions, small enough that each holds its locks for milliseconds.
DEFAULT_BATCH = 1_000


@dataclass(frozen=True)
class Policy:
    """How long each kind of row of a finished post is kept (None: forever)."""

    calls: timedelta | None = timedelta(days=30)
    events: timedelta | None = timedelta(days=90)
    notifications: timedelta | None = timedelta(days=30)
    posts: timedelta | None = None
    batch: int = DEFAULT_BATCH

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        def age(days: float | None) -> timedelta | None:
            return None if days is None else timedelta(days=days)

        return cls(
            calls=age(settings.retain_calls_days),
            events=age(settings.retain_events_days),
            notifications=age(settings.retain_notifications_days),
            posts=age(settings.retain_posts_days),
            batch=settings.retain_batch,
        )


@dataclass
class Report:
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows (or would-be rows)
    batches: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    stopped: bool = False  # told to stop before the end (its lease was lost): the rest waits


@dataclass(frozen=True)
class Rule:
    """One table's rows that may go: those of finished posts older than the limit."""

    table: str
    id: InstrumentedAttribute[int]
    time: InstrumentedAttribute[Any]  # grows with the id: where the walk may stop
    condition: Callable[[datetime], ColumnElement[bool]]


def _of_finished_post(post_id: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    finished = select(Post.id).where(Post.id == post_id, Post.state.in_(FINISHED))
    return exists(finished)


def _condition(*clauses: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(*clauses)


def rules(policy: Policy) -> list[tuple[Rule, timedelta]]:
    """The rules that apply under ``policy``, each with its age limit, posts last."""
    table = [
        (
            Rule(
                "api_calls",
                ApiCall.id,
                ApiCall.started_at,
                lambda cutoff: _condition(
                    ApiCall.started_at < cutoff, _of_finished_post(ApiCall.post_id)
                ),
            ),
            policy.calls,
        ),
        (
            Rule(
                "post_events",
                PostEvent.id,
                PostEvent.at,
                lambda cutoff: _condition(
                    PostEvent.at < cutoff, _of_finished_post(PostEvent.post_id)
                ),
            ),
            policy.events,
        ),
        (
            Rule(
                "notifications",
                Notification.id,
                Notification.created_at,
                # Account-level notifications (no post) go too once delivered and old.
                lambda cutoff: _condition(
                    Notification.created_at < cutoff,
                    Notification.delivered_at.is_not(None),
                    Notification.post_id.is_(None) | _of_finished_post(Notification.post_id),
                ),
            ),
            policy.notifications,
        ),
        (
            Rule(
                "posts",
                Post.id,
                # The walk stops on creation time, which follows the id (a post finished
                # before the cutoff was created before it); the age is the last move's.
                Post.created_at,
                lambda cutoff: _condition(
                    Post.updated_at < cutoff,
                    Post.state.in_(FINISHED),
                    ~exists(
                        select(Notification.id).where(
                            Notification.post_id == Post.id, Notification.delivered_at.is_(None)
                        )
                    ),
                ),
            ),
            policy.posts,
        ),
    ]
    return [(rule, limit) for rule, limit in table if limit is not None]


def prune(
    sessions: sessionmaker[Session],
    policy: Policy,
    now: datetime,
    dry_run: bool = False,
    on_batch: Callable[[], bool] = lambda: True,
) -> Report:
    """Delete (or, dry, count) what ``policy`` lets go, batch by batch; safe to interrupt.

    ``on_batch`` runs after each committed batch (the Celery job renews its lease there);
    when it returns False the prune stops there, ``stopped`` in its report.
    """
    report = Report(dry_run=dry_run)
    started = time.monotonic()
    for rule, limit in rules(policy):
        report.deleted[rule.table] = 0
        if not _prune_rule(sessions, rule, now - limit, policy.batch, report, on_batch):
            report.stopped = True
            break
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _prune_rule(
    sessions: sessionmaker[Session],
    rule: Rule,
    cutoff: datetime,
    size: int,
    report: Report,
    on_batch: Callable[[], bool],
) -> bool:
    """Walks ``rule``'s rows batch by batch into ``report``; False: ``on_batch`` said stop."""
    cursor: int | None = -1
    while cursor is not None:
        with transaction(sessions) as session:
            count, cursor = prune_batch(session, rule, cutoff, cursor, size, report.dry_run)
        report.deleted[rule.table] += count
        report.batches += 1
        if not on_batch():
            return False
    return True


def prune_batch(
    session: Session, rule: Rule, cutoff: datetime, after: int, size: int, dry_run: bool = False
) -> tuple[int, int | None]:
    """One batch: rows of ``rule`` with ids in [first id > ``after``, + ``size``).

    Returns the rows deleted (or that would be) and the cursor for the next batch, or
    None when the walk is over (no ids left, or every row of the range is newer than
    ``cutoff``).
    """
    low = session.scalar(select(func.min(rule.id)).where(rule.id > after))
    if low is None:
        return 0, None
    in_range = (rule.id >= low) & (rule.id < low + size)
    oldest = session.scalar(select(func.min(rule.time)).where(in_range))
    doomed = select(rule.id).where(in_range, rule.condition(cutoff))
    if dry_run:
        count = session.scalar(select(func.count()).select_from(doomed.subquery())) or 0
    else:
        count = _delete(session, rule, doomed)
    done = oldest is None or oldest >= cutoff
    return count, None if done else low + size - 1


def _delete(session: Session, rule: Rule, doomed: Any) -> int:
    if rule.table != "posts":
        statement = delete(rule.id.class_).where(rule.id.in_(doomed))
        return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]
    # A post goes with every row that refers to it (its delivered notifications and
    # whatever history the other limits kept). Its row is locked first, skipping any
    # another transaction holds (a reopen racing the prune wins; the post stays).
    ids = list(session.scalars(doomed.with_for_update(skip_locked=True)))
    if not ids:
        return 0
    for model in (ApiCall, PostEvent, PostStep, Notification):
        session.execute(delete(model).where(model.post_id.in_(ids)))
    result = session.execute(delete(Post).where(Post.id.in_(ids), Post.state.in_(FINISHED)))
    return int(result.rowcount)  # type: ignore[attr-defined]
