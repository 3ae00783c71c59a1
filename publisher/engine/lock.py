"""Step 1 of the worker: claim a due post atomically, with a lease.

The claim reads the due post with its account and credential in one statement, then
moves it with a compare-and-set on the version it read (``approved``/``retry`` ->
``running``, ``lifecycle.guarded_update``) that also records the lease owner and expiry
and counts the attempt. It returns a ``Job``: a plain snapshot of the post, its account
and credential, on which the later steps decide without holding a transaction open. The
statements are built once, on the tables, and run on a Core connection in the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update

from publisher.core import lifecycle
from publisher.core.db import Executor
from publisher.core.models import ACCOUNTS, CREDENTIALS, POSTS
from publisher.core.states import Actor, State, Trigger, sources
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
    refreshable: bool = False  # the credential holds a refresh token (engine/refresh.py)
    expires_at: datetime | None = None  # the access token's expiry (None: unknown)
    last_refreshed_at: datetime | None = None  # when publisher last refreshed the token
    parts: list[dict[str, Any]] | None = None  # a thread or media: published in steps


# The claim's one read: the due post (its state and version for the compare-and-set),
# its account and its credential. The states it may start from are the transition
# table's (``states``), not a second list.
_DUE = (
    select(
        POSTS.c.state,
        POSTS.c.version,
        POSTS.c.attempts,
        POSTS.c.max_attempts,
        POSTS.c.text,
        POSTS.c.options,
        POSTS.c.idempotency_key,
        POSTS.c.scheduled_at,
        POSTS.c.first_started_at,
        POSTS.c.ambiguous,
        POSTS.c.unconfirmed_since,
        POSTS.c.recurrence,
        POSTS.c.timezone,
        POSTS.c.series_id,
        POSTS.c.account_id,
        ACCOUNTS.c.billing_status,
        ACCOUNTS.c.paused,
        POSTS.c.credential_id,
        CREDENTIALS.c.provider,
        CREDENTIALS.c.base_url,
        CREDENTIALS.c.token_encrypted,
        CREDENTIALS.c.invalid_since,
        CREDENTIALS.c.rate_limited_until,
        CREDENTIALS.c.backoff,
        CREDENTIALS.c.retry_base,
        CREDENTIALS.c.last_verified_at,
        func.coalesce(POSTS.c.max_lateness, ACCOUNTS.c.max_lateness).label("max_lateness"),
        CREDENTIALS.c.paused_at,
        CREDENTIALS.c.max_in_flight,
        CREDENTIALS.c.refresh_token_encrypted.is_not(None).label("refreshable"),
        CREDENTIALS.c.expires_at,
        CREDENTIALS.c.last_refreshed_at,
        POSTS.c.parts,
    )
    .select_from(
        POSTS.join(ACCOUNTS, ACCOUNTS.c.id == POSTS.c.account_id).join(
            CREDENTIALS, CREDENTIALS.c.id == POSTS.c.credential_id
        )
    )
    .where(
        POSTS.c.id == bindparam("post_id"),
        # OR of equalities, not IN: an IN list is rendered anew at every execution.
        or_(*(POSTS.c.state == s.value for s in sources(Trigger.START, Actor.ENGINE))),
        POSTS.c.next_run_at <= bindparam("early"),
    )
)

_RENEW = (
    update(POSTS)
    .where(
        POSTS.c.id == bindparam("post_id"),
        POSTS.c.state == State.RUNNING.value,
        POSTS.c.version == bindparam("seen_version"),
        POSTS.c.lease_owner == bindparam("owner"),
    )
    .values(lease_expires_at=bindparam("expires"))
)


def claim(
    executor: Executor,
    post_id: int,
    owner: str,
    now: datetime,
    lease: timedelta,
    default_max_attempts: int,
) -> Job | None:
    """Claim the post for ``owner`` or return None; never raises on a lost race.

    None means the post is not due, not in a due state, gone, or another worker won (the
    compare-and-set on the version read matched nothing, and nothing was written).
    """
    early = now + timedelta(seconds=CLAIM_EARLY_TOLERANCE)
    row = executor.execute(_DUE, {"post_id": post_id, "early": early}).one_or_none()
    if row is None:
        return None
    # Plain values, not SQL expressions: the version fence makes the row read the row
    # written, and the move's statement stays the one compiled once.
    started = row.first_started_at or now
    won = lifecycle.guarded_update(
        executor,
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
            "first_started_at": started,
        },
    )
    if not won:
        return None
    return _job(row, post_id, owner, now + lease, started, default_max_attempts)


def _job(
    row: Any, post_id: int, owner: str, expires: datetime, started: datetime, default_max: int
) -> Job:
    """The claimed attempt, from the row read before the claim and what the claim wrote."""
    return Job(
        post_id=post_id,
        owner=owner,
        version=row.version + 1,
        attempt=row.attempts + 1,
        max_attempts=row.max_attempts or default_max,
        text=row.text,
        options=dict(row.options),
        idempotency_key=row.idempotency_key,
        scheduled_at=row.scheduled_at,
        first_started_at=started,
        lease_expires_at=expires,
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
        refreshable=bool(row.refreshable),
        expires_at=row.expires_at,
        last_refreshed_at=row.last_refreshed_at,
        parts=row.parts,
    )


def renew(executor: Executor, job: Job, now: datetime, lease: timedelta) -> datetime | None:
    """Extend ``job``'s lease to ``now + lease`` and return the new expiry, or None
    (writing nothing) when the post is no longer this job's: rescued, or moved on."""
    expires = now + lease
    params = {"post_id": job.post_id, "seen_version": job.version, "owner": job.owner}
    result = executor.execute(_RENEW, params | {"expires": expires})
    return expires if result.rowcount == 1 else None  # type: ignore[attr-defined]
