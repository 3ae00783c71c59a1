"""The end of an attempt: record what happened and apply the plan, in one transaction.

``finish`` writes the call-log row's result and the post's move together (riding out a
database blip), then shares a 429's hold with the credential's other slot takers, counts,
logs, and enqueues a retry that is due soon. A worker that lost its lease changes nothing.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import OperationalError

from publisher.core import redact
from publisher.engine import act, call_log, sweep
from publisher.engine.classify import Outcome
from publisher.engine.dependencies import Dependencies
from publisher.engine.exchange import Exchange
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan
from publisher.engine.telemetry import metrics, sentry

log = logging.getLogger(__name__)

FINISH_TRIES = 4  # the database may blink; the lease outlasts these waits (0.5+1+2 s)


class Result(enum.StrEnum):
    PAUSED = "paused"  # the kill switch is on: the message was dropped, nothing touched
    NOT_CLAIMED = "not_claimed"  # not due, not ours, or already taken: dropped quietly
    DONE = "done"
    DEFERRED = "deferred"
    GAVE_UP = "gave_up"
    CANCELLED = "cancelled"
    RELEASED = "released"
    LEASE_LOST = "lease_lost"  # we ran too long; another owner decides now


RESULTS = {
    Action.SUCCEED: Result.DONE,
    Action.DEFER: Result.DEFERRED,
    Action.GIVE_UP: Result.GAVE_UP,
    Action.CANCEL: Result.CANCELLED,
    Action.RELEASE: Result.RELEASED,
}


@dataclass(frozen=True)
class Attempt:
    """A call that was made, for the record."""

    call_id: int
    exchange: Exchange
    outcome: Outcome
    secrets: redact.Redactor


def finish(
    deps: Dependencies, job: Job, decided: Plan, attempt: Attempt | None, crash: str | None = None
) -> Result:
    """Record the attempt and apply the plan in one transaction, riding out DB blips."""
    for tried in range(FINISH_TRIES):
        try:
            return finish_once(deps, job, decided, attempt, crash)
        except OperationalError:
            if tried == FINISH_TRIES - 1:
                raise  # the lease expires and the sweep rescues the post (ambiguous)
            log.warning("post %s: database unavailable while finishing; retrying", job.post_id)
            time.sleep(0.5 * 2**tried)
    raise AssertionError("unreachable")


def finish_once(
    deps: Dependencies, job: Job, decided: Plan, attempt: Attempt | None, crash: str | None
) -> Result:
    now = deps.clock()
    decided, crash = _scrubbed(decided), crash and redact.active()(crash)
    with deps.engine.begin() as connection:
        if crash is not None:  # the attempt's call row, if written, ends with the error
            call_log.close_in_flight(connection, job.post_id, job.attempt, crash, now)
        if attempt is not None:
            call_log.finish(
                connection, attempt.call_id, attempt.exchange, attempt.outcome, attempt.secrets, now
            )
        won = act.apply(connection, job, decided, now)
    if not won:
        log.error("post %s: lease lost before recording %s", job.post_id, decided.action)
        sentry.lease_lost(job, decided)
        return Result.LEASE_LOST
    if decided.hold_credential_until is not None:  # before the slot goes back
        deps.limiter.hold(job.credential_id, decided.hold_credential_until)
    metrics.observe_result(job, decided)
    _log(job, decided)
    if decided.action in (Action.DEFER, Action.RELEASE) and decided.next_run_at is not None:
        _enqueue_soon(deps, job.post_id, decided.next_run_at, now)
    return RESULTS[decided.action]


def _scrubbed(decided: Plan) -> Plan:
    """``decided`` without the job's secrets in the words that reach the post, its history
    and the notification (a provider's error message may echo the token)."""
    scrub = redact.active()
    if not scrub:
        return decided
    message = decided.message and scrub(decided.message)
    return replace(decided, message=message, reason=decided.reason and scrub(decided.reason))


def _log(job: Job, decided: Plan) -> None:
    fields = {
        "post_id": job.post_id,
        "attempt": job.attempt,
        "provider": job.provider,
        "category": decided.category,
        "action": decided.action.value,
    }
    level = logging.ERROR if decided.action in (Action.GIVE_UP,) else logging.INFO
    log.log(
        level,
        "post %s attempt %s: %s (%s)",
        job.post_id,
        job.attempt,
        decided.action.value,
        decided.reason or "ok",
        extra=fields,
    )


def _enqueue_soon(deps: Dependencies, post_id: int, when: datetime, now: datetime) -> None:
    """A retry due within the lookahead is enqueued now, with a countdown, to start on time."""
    countdown = (when - now).total_seconds()
    if countdown > deps.settings.lookahead:
        return  # the sweep will pick it up
    sweep.enqueue_now(deps, [(post_id, when)], now)


def lease_lost_before_call(deps: Dependencies, job: Job, call_id: int) -> Result:
    """Another owner decides now; this attempt's call-log row ends unsent."""
    log.warning("post %s: lease lost before the call; not calling", job.post_id)
    with deps.engine.begin() as connection:
        call_log.not_sent(connection, call_id, "lease lost before the call", deps.clock())
    return Result.LEASE_LOST
