"""Applying a ``Plan`` to the database: the post's transition and its consequences.

Everything for one attempt's end happens in one transaction, fenced by the lease: the
call-log row, the post's move, the credential's marks, the notification and, for a
recurring post, its next occurrence. A worker that lost its lease changes no post.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from publisher.core import lifecycle, notifications, series
from publisher.core.models import Credential, Post
from publisher.core.states import DUE_STATES, Actor, State, Trigger
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan

VERIFIED_EVERY = timedelta(hours=1)

TRIGGERS = {
    Action.SUCCEED: Trigger.SUCCEED,
    Action.DEFER: Trigger.DEFER,
    Action.GIVE_UP: Trigger.GIVE_UP,
    Action.CANCEL: Trigger.CANCEL,
    Action.RELEASE: Trigger.RELEASE,
}


def _changes(job: Job, plan: Plan, now: datetime) -> dict[str, Any]:
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
        changes |= {"attempts": Post.attempts - 1, "next_run_at": plan.next_run_at or now}
    else:
        changes |= {
            "next_run_at": plan.next_run_at,
            "last_error_category": plan.category,
            "last_error_message": plan.message and plan.message.replace("\x00", ""),
        }
        if plan.action is Action.CANCEL:
            changes["cancel_reason"] = plan.reason
        if not plan.attempt_used:
            changes["attempts"] = Post.attempts - 1
    return changes


def apply(session: Session, job: Job, plan: Plan, now: datetime) -> bool:
    """Move the post as ``plan`` says; False (nothing written) if the lease was lost."""
    won = lifecycle.guarded_update(
        session,
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
        session.execute(
            update(Credential)
            .where(Credential.id == job.credential_id, Credential.invalid_since.is_(None))
            .values(invalid_since=now)
        )
    if plan.hold_credential_until is not None:
        hold_credential(session, job.credential_id, plan.hold_credential_until)
    if plan.notify is not None:
        notifications.add(
            session, job.account_id, job.post_id, plan.notify, _message(job, plan), now
        )
    if plan.action is Action.SUCCEED and (
        job.last_verified_at is None or job.last_verified_at < now - VERIFIED_EVERY
    ):
        _verified(session, job.credential_id, now)
    # Whatever else this transaction did: an occurrence that ended leads to the next.
    if job.recurrence and series.continues_after(plan.action.value, plan.reason):
        series.schedule_next(session, job.post_id, now, Actor.ENGINE)
    return True


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


def _verified(session: Session, credential_id: int, now: datetime) -> None:
    """The provider accepted the token: note it (at most hourly, to spare a write per post)."""
    session.execute(
        update(Credential)
        .where(
            Credential.id == credential_id,
            or_(
                Credential.last_verified_at.is_(None),
                Credential.last_verified_at < now - VERIFIED_EVERY,
            ),
        )
        .values(last_verified_at=now)
    )


def hold_credential(session: Session, credential_id: int, until: datetime) -> None:
    """Rate-limited: no post of this credential starts before ``until``."""
    session.execute(
        update(Credential).where(Credential.id == credential_id).values(rate_limited_until=until)
    )
    session.execute(
        update(Post)
        .where(
            Post.credential_id == credential_id,
            Post.state.in_([s.value for s in DUE_STATES]),
            Post.next_run_at < until,
        )
        .values(next_run_at=until, enqueued_at=None)
        .execution_options(synchronize_session=False)
    )


def lease_left(job: Job, now: datetime) -> timedelta:
    return job.lease_expires_at - now
