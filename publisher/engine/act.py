"""Applying a ``Plan`` to the database: the post's transition and its consequences.

Everything for one attempt's end happens in one transaction, fenced by the lease: the
call-log row, the post's move, the credential's marks, the notification and, for a
recurring post, its next occurrence. A worker that lost its lease changes no post.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, update
from sqlalchemy.orm import Session

from publisher.core import lifecycle, notifications, series
from publisher.core.db import Executor
from publisher.core.models import CREDENTIALS, POSTS
from publisher.core.states import DUE_STATES, Actor, State, Trigger
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan

VERIFIED_EVERY = timedelta(hours=1)

_CREDENTIAL = CREDENTIALS.c.id == bindparam("credential_id")
# The credential's marks, built once; each runs in the attempt's closing transaction.
_INVALIDATE = (
    update(CREDENTIALS)
    .where(_CREDENTIAL, CREDENTIALS.c.invalid_since.is_(None))
    .values(invalid_since=bindparam("now"))
)
_VERIFIED = (
    update(CREDENTIALS)
    .where(
        _CREDENTIAL,
        or_(
            CREDENTIALS.c.last_verified_at.is_(None),
            CREDENTIALS.c.last_verified_at < bindparam("stale_before"),
        ),
    )
    .values(last_verified_at=bindparam("now"))
)
_HOLD = update(CREDENTIALS).where(_CREDENTIAL).values(rate_limited_until=bindparam("until"))
_HOLD_POSTS = (
    update(POSTS)
    .where(
        # Not "credential_id": a column of posts, so Core reserves that name for its SET.
        POSTS.c.credential_id == bindparam("held_credential"),
        POSTS.c.state.in_([s.value for s in DUE_STATES]),
        POSTS.c.next_run_at < bindparam("until"),
    )
    .values(next_run_at=bindparam("until"), enqueued_at=None)
)

TRIGGERS = {
    Action.SUCCEED: Trigger.SUCCEED,
    Action.DEFER: Trigger.DEFER,
    Action.GIVE_UP: Trigger.GIVE_UP,
    Action.CANCEL: Trigger.CANCEL,
    Action.RELEASE: Trigger.RELEASE,
}


def _changes(job: Job, plan: Plan, now: datetime) -> dict[str, Any]:
    # Plain values (an attempt refunded is ``job.attempt - 1``): the lease fence makes the
    # claimed row the row written, and the move's statement stays the one compiled once.
    changes: dict[str, Any] = {
        "lease_owner": None,
        "lease_expires_at": None,
        "enqueued_at": None,
        # Once an attempt may have landed, every later move keeps saying so (a cancel, a
        # return to draft): whoever approves the post again, the next attempt looks first.
        "ambiguous": job.ambiguous or plan.ambiguous,
        "unconfirmed_since": plan.unconfirmed_since,
    }
    if plan.action is Action.SUCCEED:
        published = plan.published
        changes |= {
            "published_at": now,
            "next_run_at": None,
            "ambiguous": False,
            "last_error_category": None,
            "last_error_message": None,
            "external_id": published.external_id if published else None,
            "external_url": published.external_url if published else None,
        }
    elif plan.action is Action.RELEASE:
        changes |= {"attempts": job.attempt - 1, "next_run_at": plan.next_run_at or now}
    else:
        changes |= {
            "next_run_at": plan.next_run_at,
            "last_error_category": plan.category,
            "last_error_message": plan.message and plan.message.replace("\x00", ""),
        }
        if plan.action is Action.CANCEL:
            changes["cancel_reason"] = plan.reason
        if not plan.attempt_used:
            changes["attempts"] = job.attempt - 1
    return changes


def apply(executor: Executor, job: Job, plan: Plan, now: datetime) -> bool:
    """Move the post as ``plan`` says; False (nothing written) if the lease was lost."""
    won = lifecycle.guarded_update(
        executor,
        job.post_id,
        trigger=TRIGGERS[plan.action],
        actor=Actor.ENGINE,
        source=State.RUNNING,
        version=job.version,
        now=now,
        reason=plan.reason if plan.message is None else f"{plan.reason}: {plan.message}",
        changes=_changes(job, plan, now),
        lease_owner=job.owner,
    )
    if not won:
        return False
    if plan.invalidate_credential:
        executor.execute(_INVALIDATE, {"credential_id": job.credential_id, "now": now})
    if plan.hold_credential_until is not None:
        hold_credential(executor, job.credential_id, plan.hold_credential_until)
    if plan.notify is not None:
        notifications.add(
            executor, job.account_id, job.post_id, plan.notify, _message(job, plan), now
        )
    if plan.action is Action.SUCCEED and (
        job.last_verified_at is None or job.last_verified_at < now - VERIFIED_EVERY
    ):
        _verified(executor, job.credential_id, now)
    # Whatever else this transaction did: an occurrence that ended leads to the next.
    if job.recurrence and series.continues_after(plan.action.value, plan.reason):
        _schedule_next(executor, job.post_id, now)
    return True


def _schedule_next(executor: Executor, post_id: int, now: datetime) -> None:
    """The series' next occurrence, written by the ORM in the caller's transaction."""
    if isinstance(executor, Session):
        series.schedule_next(executor, post_id, now, Actor.ENGINE)
        return
    # A session on the connection joins its transaction; it neither commits nor closes it.
    with Session(bind=executor, expire_on_commit=False) as session:
        series.schedule_next(session, post_id, now, Actor.ENGINE)
        session.flush()


def _message(job: Job, plan: Plan) -> str:
    what = {
        "reauthorize": "needs re-authorization",
        "forbidden": "was refused",
        "gave_up": "could not be published",
        "cancelled": "was cancelled",
        "missed": "was not published: it is too late for it; it is a draft again",
        "unconfirmed": (
            "may have been published, and the provider cannot confirm it: check the account "
            "before approving it again"
        ),
    }
    head = f"post {job.post_id} ({job.provider}) {what.get(plan.notify or '', plan.reason)}"
    text = f"{head}: {plan.message}" if plan.message else head
    if job.recurrence and not series.continues_after(plan.action.value, plan.reason):
        series_id = job.series_id or job.post_id
        text += f". Its series stops here; POST /v1/series/{series_id}/resume starts it again"
    return text


def _verified(executor: Executor, credential_id: int, now: datetime) -> None:
    """The provider accepted the token: note it (at most hourly, to spare a write per post)."""
    params = {"credential_id": credential_id, "now": now, "stale_before": now - VERIFIED_EVERY}
    executor.execute(_VERIFIED, params)


def hold_credential(executor: Executor, credential_id: int, until: datetime) -> None:
    """Rate-limited: no post of this credential starts before ``until``."""
    executor.execute(_HOLD, {"credential_id": credential_id, "until": until})
    executor.execute(_HOLD_POSTS, {"held_credential": credential_id, "until": until})


def lease_left(job: Job, now: datetime) -> timedelta:
    return job.lease_expires_at - now
