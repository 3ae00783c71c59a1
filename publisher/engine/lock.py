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

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from publisher.core import lifecycle
from publisher.core.models import Account, Credential, Post, UTCDateTime
from publisher.core.states import DUE_STATES, Actor, State, Trigger
from publisher.engine.constants import CLAIM_EARLY_TOLERANCE


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
    unconfirmed_since: datetime | None  # since when lookups could not tell
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
    last_verified_at: datetime | None = None
    max_lateness: float | None = None  # the post's own limit, else its account's (s)
    credential_paused: bool = False  # the credential's kill switch is on
    max_in_flight: int | None = None  # the credential's own concurrency limit


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
    # Plain columns, not ORM entities: this runs once per attempt on the hot path.
    row = session.execute(
        select(
            Post.attempts,
            Post.max_attempts,
            Post.text,
            Post.options,
            Post.idempotency_key,
            Post.scheduled_at,
            Post.first_started_at,
            Post.lease_expires_at,
            Post.ambiguous,
            Post.unconfirmed_since,
            Post.recurrence,
            Post.timezone,
            Post.series_id,
            Post.account_id,
            Account.billing_status,
            Account.paused,
            Post.credential_id,
            Credential.provider,
            Credential.base_url,
            Credential.token_encrypted,
            Credential.invalid_since,
            Credential.rate_limited_until,
            Credential.backoff,
            Credential.retry_base,
            Credential.last_verified_at,
            func.coalesce(Post.max_lateness, Account.max_lateness).label("max_lateness"),
            Credential.paused_at,
            Credential.max_in_flight,
        )
        .join(Account, Account.id == Post.account_id)
        .join(Credential, Credential.id == Post.credential_id)
        .where(Post.id == post_id)
    ).one()
    assert row.lease_expires_at is not None
    return Job(
        post_id=post_id,
        owner=owner,
        version=version,
        attempt=row.attempts,
        max_attempts=row.max_attempts or default_max,
        text=row.text,
        options=dict(row.options),
        idempotency_key=row.idempotency_key,
        scheduled_at=row.scheduled_at,
        first_started_at=row.first_started_at,
        lease_expires_at=row.lease_expires_at,
        ambiguous=row.ambiguous,
        unconfirmed_since=row.unconfirmed_since,
        recurrence=row.recurrence,
        timezone=row.timezone,
        series_id=row.series_id,
        account_id=row.account_id,
        billing_status=row.billing_status,
        account_paused=row.paused,
        credential_id=row.credential_id,
        provider=row.provider,
        base_url=row.base_url,
        token_encrypted=row.token_encrypted,
        credential_invalid=row.invalid_since is not None,
        rate_limited_until=row.rate_limited_until,
        backoff=row.backoff,
        retry_base=row.retry_base,
        last_verified_at=row.last_verified_at,
        max_lateness=row.max_lateness,
        credential_paused=row.paused_at is not None,
        max_in_flight=row.max_in_flight,
    )


def renew(session: Session, job: Job, now: datetime, lease: timedelta) -> datetime | None:
    """Extend ``job``'s lease to ``now + lease`` and return the new expiry, or None
    (writing nothing) when the post is no longer this job's: rescued, or moved on."""
    expires = now + lease
    result = session.execute(
        update(Post)
        .where(
            Post.id == job.post_id,
            Post.state == State.RUNNING.value,
            Post.version == job.version,
            Post.lease_owner == job.owner,
        )
        .values(lease_expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    return expires if result.rowcount == 1 else None  # type: ignore[attr-defined]
