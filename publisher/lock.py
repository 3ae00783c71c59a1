"""Step 1 of the worker: claim a due post atomically, with a lease.

The claim is a compare-and-set (``approved``/``retry`` -> ``running``, fenced by the
version column) that also records the lease owner and expiry and counts the attempt. It
returns a ``Job``: a plain snapshot of the post, its account and credential, on which the
later steps decide without holding a transaction open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from publisher import lifecycle
from publisher.constants import CLAIM_EARLY_TOLERANCE
from publisher.models import Account, Credential, Post, UTCDateTime
from publisher.states import DUE_STATES, Actor, State, Trigger


@dataclass(frozen=True)
class Job:
    """One claimed attempt: everything the worker needs, detached from the session."""

    post_id: int
    owner: str
    version: int  # the row's version after the claim: the fencing token
    attempt: int  # 1-based number of this attempt
    max_attempts: int
    text: str
    options: dict[str, Any]
    idempotency_key: str
    scheduled_at: datetime | None
    first_started_at: datetime | None
    lease_expires_at: datetime
    ambiguous: bool  # an earlier attempt may have created the post
    recurrence: str | None
    timezone: str | None
    series_id: int | None
    account_id: int
    billing_status: str
    account_paused: bool
    credential_id: int
    provider: str
    base_url: str
    token_encrypted: str
    credential_invalid: bool
    rate_limited_until: datetime | None
    backoff: str
    retry_base: float | None


def _due_row(session: Session, post_id: int, now: datetime) -> Any:
    early = now + timedelta(seconds=CLAIM_EARLY_TOLERANCE)
    return session.execute(
        select(Post.state, Post.version, Post.attempts).where(
            Post.id == post_id,
            Post.state.in_([s.value for s in DUE_STATES]),
            Post.next_run_at <= early,
        )
    ).one_or_none()


def claim(
    session: Session,
    post_id: int,
    owner: str,
    now: datetime,
    lease: timedelta,
    default_max_attempts: int,
) -> Job | None:
    """Claim the post for ``owner`` or return None; never raises on a lost race.

    None means the post is not due, not in a due state, gone, or another worker won.
    """
    row = _due_row(session, post_id, now)
    if row is None:
        return None
    won = lifecycle.guarded_update(
        session,
        post_id,
        trigger=Trigger.START,
        actor=Actor.ENGINE,
        source=State(row.state),
        version=row.version,
        now=now,
        changes={
            "lease_owner": owner,
            "lease_expires_at": now + lease,
            "attempts": row.attempts + 1,
            "enqueued_at": None,
            "first_started_at": func.coalesce(Post.first_started_at, literal(now, UTCDateTime())),
        },
    )
    if not won:
        return None
    return _snapshot(session, post_id, owner, row.version + 1, default_max_attempts)


def _snapshot(session: Session, post_id: int, owner: str, version: int, default_max: int) -> Job:
    post, account, credential = session.execute(
        select(Post, Account, Credential)
        .join(Account, Account.id == Post.account_id)
        .join(Credential, Credential.id == Post.credential_id)
        .where(Post.id == post_id)
    ).one()
    assert post.lease_expires_at is not None
    return Job(
        post_id=post.id,
        owner=owner,
        version=version,
        attempt=post.attempts,
        max_attempts=post.max_attempts or default_max,
        text=post.text,
        options=dict(post.options),
        idempotency_key=post.idempotency_key,
        scheduled_at=post.scheduled_at,
        first_started_at=post.first_started_at,
        lease_expires_at=post.lease_expires_at,
        ambiguous=post.ambiguous,
        recurrence=post.recurrence,
        timezone=post.timezone,
        series_id=post.series_id,
        account_id=account.id,
        billing_status=account.billing_status,
        account_paused=account.paused,
        credential_id=credential.id,
        provider=credential.provider,
        base_url=credential.base_url,
        token_encrypted=credential.token_encrypted,
        credential_invalid=credential.invalid_since is not None,
        rate_limited_until=credential.rate_limited_until,
        backoff=credential.backoff,
        retry_base=credential.retry_base,
    )
