"""The sweep (beat, every ``PUBLISHER_SWEEP_INTERVAL``): due posts -> broker messages.

Each run: rescue posts whose worker lost its lease, enqueue every post due before the next
run (those not due yet get a countdown, so they start on time), and record a heartbeat.
A post is enqueued once: ``enqueued_at`` marks it, and only a message older than the
grace period (lost with a Redis restart, say) is sent again. Batches are bounded and
walk the partial due-index, so a sweep's cost follows the due posts, not the table.
The broker holds at most ``max_backlog`` waiting messages: the database is the truth, so
a sweep sends only what the queue lacks, earliest first, and leaves the rest due (its
report says how many: ``deferred``) for the next sweep. It is safe to run twice at once
(claims are atomic, and marks are compare-and-set), but the Celery task runs one at a
time under a lease: ``on_batch``, after each batch, says whether to go on (no: the lease
was lost, another sweep may be running, so this one stops there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core import control, lifecycle, notifications, series
from publisher.core.db import transaction
from publisher.core.models import Post
from publisher.core.states import Actor, State, Trigger
from publisher.engine import call_log
from publisher.engine.constants import SEND_MARGIN
from publisher.engine.dependencies import Dependencies, QueueState
from publisher.engine.due import Key, Window, left, mark, take

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    at: str
    enqueued: int  # messages sent (resent lost ones included)
    rescued: int
    paused: bool
    duration_ms: float
    deferred: int = 0  # due posts left for the next sweep (the backlog cap, or told to stop)


@dataclass(frozen=True)
class Enqueued:
    """What the enqueue step of a sweep did."""

    sent: int  # messages sent
    deferred: int  # due posts of the window it did not reach


def room(queue: QueueState, max_backlog: int) -> int:
    """How many messages a sweep may send: what the publish queue lacks of
    ``max_backlog``. Not knowing the queue, ``max_backlog``: one sweep's worth, bounded
    (only posts not marked go out then, see ``resend_cutoff``, so each goes out once)."""
    if queue.waiting is None:
        return max_backlog
    return max(0, max_backlog - queue.waiting)


def resend_cutoff(queue: QueueState, now: datetime, grace: timedelta) -> datetime | None:
    """Posts marked as enqueued before this have lost their message: send it again.
    None: send none again.

    A message is lost when Redis restarted without it, or when the worker holding it
    died. Past the grace period, with an empty queue every older mark is lost; with a
    backlog, only a mark older than the oldest waiting message (less ``SEND_MARGIN``)
    is: a newer one may still wait its turn, and sending it again would only lengthen
    the queue (a backlog never feeds on itself). So a lost message goes out again
    within the grace period and one sweep interval, backlog or not.
    """
    if queue.waiting is None:
        return None
    cutoff = now - grace
    if queue.waiting == 0:
        return cutoff
    if queue.oldest_sent_at is None:
        return None
    return min(cutoff, queue.oldest_sent_at - timedelta(seconds=SEND_MARGIN))


def _send(deps: Dependencies, due: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """Send the messages of posts already marked enqueued; unmark what could not be sent,
    so the next sweep tries again. Returns how many were sent."""
    failed = []
    for post_id, when in due:
        try:
            # The countdown is taken at send time: a long sweep must not make posts late.
            deps.enqueue(post_id, max(0.0, (when - deps.clock()).total_seconds()))
        except Exception:
            log.warning("could not enqueue post %s", post_id, exc_info=True)
            failed.append(post_id)
    if failed:
        with transaction(deps.sessions) as session:
            mark(session, failed, None)
    return len(due) - len(failed)


def enqueue_now(deps: Dependencies, due: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """Mark ``due`` posts enqueued and send their messages; returns how many were sent."""
    if not due:
        return 0
    with transaction(deps.sessions) as session:
        mark(session, [post_id for post_id, _ in due], now)
    return _send(deps, due, now)


def rescue_expired(deps: Dependencies, now: datetime) -> int:
    """Take posts whose lease expired back from their worker (attempt refunded, marked
    ambiguous: the call may have landed). A post rescued ``max_rescues`` times already
    (a call that always overruns, an answer that kills its worker) returns to draft with
    a notification instead of looping forever."""
    rescued = 0
    with transaction(deps.sessions) as session:
        rows = session.execute(
            select(Post.id, Post.version, Post.rescues, Post.account_id, Post.recurrence)
            .where(Post.state == State.RUNNING.value, Post.lease_expires_at < now)
            .limit(deps.settings.sweep_batch)
        ).all()
        for row in rows:
            if _rescue(session, row, now, deps.settings.max_rescues):
                call_log.abandon(session, row.id, now)
                rescued += 1
    if rescued:
        log.warning("rescued %s posts whose worker lost its lease", rescued)
    return rescued


def _rescue(session: Session, row: Any, now: datetime, max_rescues: int) -> bool:
    changes: dict[str, Any] = {
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": Post.attempts - 1,
        "enqueued_at": None,
        "ambiguous": True,
        "rescues": Post.rescues + 1,
    }
    give_up = row.rescues >= max_rescues
    if give_up:
        why = f"taken back from a worker {row.rescues + 1} times (its lease expired each time)"
        changes |= {
            "next_run_at": None,
            "last_error_category": "rescued",
            "last_error_message": why,
        }
    else:
        why = "the worker's lease expired"
        changes["next_run_at"] = now
    won = lifecycle.guarded_update(
        session,
        row.id,
        trigger=Trigger.GIVE_UP if give_up else Trigger.RESCUE,
        actor=Actor.ENGINE,
        source=State.RUNNING,
        version=row.version,
        now=now,
        reason=why,
        changes=changes,
        lease_expired_by=now,
    )
    if won and give_up:
        message = (
            f"post {row.id} was returned to draft: {why}. It may have been published: "
            "check the account before approving it again"
        )
        notifications.add(session, row.account_id, row.id, "rescued", message, now)
        if row.recurrence:  # one occurrence gave up; its series goes on
            series.schedule_next(session, row.id, now, Actor.ENGINE)
    return won


def run(deps: Dependencies, on_batch: Callable[[], bool] = lambda: True) -> SweepReport:
    """One sweep. Returns what it did (also written as the heartbeat).

    ``on_batch`` runs after each batch of messages that leaves more to send (the Celery
    task renews its lease there); when it returns False the sweep sends no more.
    """
    now = deps.clock()
    with transaction(deps.sessions) as session:
        pauses = control.pauses(session)
    rescued = 0
    enqueued = Enqueued(0, 0)
    if not pauses.everything:
        rescued = rescue_expired(deps, now)
        enqueued = _enqueue_due(deps, now, pauses.providers, on_batch)
    duration = (deps.clock() - now).total_seconds() * 1000
    report = SweepReport(
        at=now.isoformat(),
        enqueued=enqueued.sent,
        rescued=rescued,
        paused=pauses.everything,
        duration_ms=round(duration, 3),
        deferred=enqueued.deferred,
    )
    _heartbeat(deps, report, now)
    return report


def _window(deps: Dependencies, now: datetime, queue: QueueState, paused: frozenset[str]) -> Window:
    # Half an interval more than the lookahead: a sweep that runs a little late still
    # finds the posts due before the next one (the overlap is harmless: posts are marked).
    # (PUBLISHER_LOOKAHEAD=0 turns look-ahead off entirely: the plain sweep.)
    ahead = deps.settings.lookahead
    horizon = now + timedelta(seconds=ahead + deps.settings.sweep_interval / 2 if ahead else 0)
    grace = timedelta(seconds=deps.settings.enqueue_grace)
    return Window(horizon, resend_cutoff(queue, now, grace), paused)


def _enqueue_due(
    deps: Dependencies, now: datetime, paused: frozenset[str], on_batch: Callable[[], bool]
) -> Enqueued:
    queue = deps.backlog()
    window = _window(deps, now, queue, paused)
    allowed = room(queue, deps.settings.max_backlog)
    sent = failed = 0  # failed: unmarked again, left for the next sweep
    after: Key | None = None
    while sent < allowed:
        limit = min(deps.settings.sweep_batch, allowed - sent)
        # Each batch is marked and committed before its messages go out: a crash in
        # between leaves marked posts, found again by a later sweep once the mark is
        # older than the resend cutoff, never a message for a post that was not marked.
        # The mark is the batch's own time, not the sweep's start: it must be within
        # SEND_MARGIN of its messages' send times, however long the sweep runs.
        with transaction(deps.sessions) as session:
            batch = take(session, window, after, limit, deps.clock())
        batch_sent = _send(deps, [(key.id, key.next_run_at) for key in batch], now)
        sent += batch_sent
        failed += len(batch) - batch_sent
        if len(batch) < limit:
            return Enqueued(sent, failed)  # the walk is over
        after = batch[-1]
        if failed or not _go_on(on_batch, sent):
            break
    return _deferred(deps, window, after, Enqueued(sent, failed), allowed)


def _go_on(on_batch: Callable[[], bool], sent: int) -> bool:
    if on_batch():
        return True
    log.warning("sweep stopped after %s messages: its lock was lost (another may run)", sent)
    return False


def _deferred(
    deps: Dependencies, window: Window, after: Key | None, done: Enqueued, allowed: int
) -> Enqueued:
    """The sweep stopped before the end of its walk: add what it left for the next."""
    with transaction(deps.sessions) as session:
        deferred = done.deferred + left(session, window, after)
    if deferred:
        log.info(
            "sweep sent %s messages (room for %s); %s due posts wait for the next sweep",
            done.sent,
            allowed,
            deferred,
        )
    return Enqueued(done.sent, deferred)


def _heartbeat(deps: Dependencies, report: SweepReport, now: datetime) -> None:
    with transaction(deps.sessions) as session:
        previous = control.read(session, control.HEARTBEAT) or {}
        value = asdict(report) | {"count": int(previous.get("count", 0)) + 1}
        control.write(session, control.HEARTBEAT, value, now, db_clock=True)
