"""When a credential's token is refreshed, and what its post does meanwhile.

Three moments (the flow itself is ``refresh``):

- proactively: the sweep finds credentials whose token expires within
  ``PROACTIVE_MARGIN`` and sends one refresh message each (``enqueue_due``);
- at claim: a worker about to call with a token that expires within ``CLAIM_MARGIN``
  refreshes first (``at_claim`` + ``resolve``), or, when another refresh is in flight,
  hands the post back for ``WAIT_FOR_REFRESH`` (no attempt used);
- on a 401 (``after_unauthorized``): providers do not reliably say "expired" (X answers
  a bare 401), so any 401 on a refreshable credential triggers one refresh and a retry
  right away without using an attempt, unless the token that met it came from a refresh
  less than ``FRESH_TOKEN`` ago: a token that new is refused, not expired, and the post
  takes today's unauthorized path. So a refused credential costs at most one refresh.

A refused grant (``invalid_grant`` and the other RFC 6749 §5.2 codes) makes the
credential invalid and cancels the post ``unauthorized`` with ``reauthorize``; a
transient failure is ``unavailable`` (backoff, an attempt used, so a token endpoint that
never recovers ends in ``gave_up``, not a loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, or_, select, update

from publisher.core.models import CREDENTIALS
from publisher.engine import lock
from publisher.engine.classify import Outcome
from publisher.engine.dependencies import Dependencies
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan, RetryPolicy, after_call
from publisher.engine.refresh import RETRY_AFTER, Attempted, Status, refresh
from publisher.providers.base import Category

# The sweep refreshes a token this long before it expires: X's tokens last two hours, so
# five minutes leaves room for several tries (every RETRY_AFTER) if the endpoint fails.
PROACTIVE_MARGIN = timedelta(minutes=5)
# A worker refreshes first when the token expires within this: the call takes up to the
# HTTP timeouts, and the provider's clock may run a little ahead of ours.
CLAIM_MARGIN = timedelta(seconds=30)
# A post whose credential is being refreshed by another worker tries again this soon:
# a refresh is one round trip to the token endpoint.
WAIT_FOR_REFRESH = timedelta(seconds=1)
# A 401 on a token refreshed this recently is a refusal, not an expiry.
FRESH_TOKEN = timedelta(minutes=2)
DUE_BATCH = 500  # credentials per sweep; the rest wait for the next sweep


def at_claim(job: Job, now: datetime) -> Plan | None:
    """A plan to refresh the token before calling (``resolve`` carries it out) when it
    expires within ``CLAIM_MARGIN``, else None."""
    if not job.refreshable or job.expires_at is None or job.expires_at > now + CLAIM_MARGIN:
        return None
    return _release(job, now, "the token expires: refreshing it first", refresh_first=True)


def after_unauthorized(deps: Dependencies, job: Job, outcome: Outcome, decided: Plan) -> Plan:
    """After a call: a 401 on a refreshable credential refreshes the token and retries
    the post without using an attempt, unless the token was fresh (then ``decided``)."""
    if outcome.category is not Category.UNAUTHORIZED or not job.refreshable:
        return decided
    now = deps.clock()
    if job.last_refreshed_at is not None and now - job.last_refreshed_at < FRESH_TOKEN:
        return decided
    # The call may have used most of the post's lease: renew it for the refresh's call,
    # so the sweep does not take the post back meanwhile (and mark it ambiguous).
    with deps.engine.begin() as connection:
        if lock.renew(connection, job, now, deps.lease) is None:
            return decided  # no longer ours: the finish records nothing either
    return resolve(deps, job, replace(decided, refresh_credential=True))


def resolve(deps: Dependencies, job: Job, decided: Plan) -> Plan:
    """``decided``, or, when it asks for a refresh, the plan after the refresh."""
    if not decided.refresh_credential:
        return decided
    attempted = refresh(deps, job.credential_id, seen_token=job.token_encrypted)
    return after_refresh(job, attempted, deps.clock(), deps.retry_policy)


def after_refresh(job: Job, attempted: Attempted, now: datetime, policy: RetryPolicy) -> Plan:
    """The post's plan once ``attempted`` is known (see the module docstring)."""
    match attempted.status:
        case Status.REFRESHED | Status.ALREADY | Status.NOT_REFRESHABLE:
            return _release(job, now, f"token {attempted.status.value}: calling again")
        case Status.BUSY:
            return _release(job, now + WAIT_FOR_REFRESH, "waiting for the token refresh in flight")
        case Status.REJECTED:
            message = f"the token endpoint refused to refresh it ({attempted.message})"
            return after_call(job, Outcome(Category.UNAUTHORIZED, message), now, policy)
        case _:
            message = f"token refresh failed: {attempted.message}"
            return after_call(job, Outcome(Category.UNAVAILABLE, message), now, policy)


def _release(job: Job, when: datetime, reason: str, refresh_first: bool = False) -> Plan:
    """Hand the post back untouched (the attempt refunded) to run at ``when``."""
    return Plan(
        Action.RELEASE,
        reason=reason,
        next_run_at=when,
        ambiguous=job.ambiguous,
        unconfirmed_since=job.unconfirmed_since,
        refresh_credential=refresh_first,
    )


_DUE = (
    select(CREDENTIALS.c.id)
    .where(
        CREDENTIALS.c.refresh_token_encrypted.is_not(None),
        CREDENTIALS.c.invalid_since.is_(None),
        CREDENTIALS.c.paused_at.is_(None),  # the operator's kill switch: no calls at all
        CREDENTIALS.c.expires_at < bindparam("due_before"),
        or_(CREDENTIALS.c.refresh_until.is_(None), CREDENTIALS.c.refresh_until < bindparam("now")),
    )
    .order_by(CREDENTIALS.c.expires_at)
    .limit(DUE_BATCH)
)
# Marks a credential whose refresh message was sent: the sweep sends no other for
# RETRY_AFTER (no owner: a worker meeting the expired token may still refresh it).
_SENT = (
    update(CREDENTIALS)
    .where(CREDENTIALS.c.id == bindparam("credential_id"), CREDENTIALS.c.refresh_owner.is_(None))
    .values(refresh_until=bindparam("until"))
)


def due(connection: Connection, now: datetime) -> list[int]:
    """Credentials whose token expires within ``PROACTIVE_MARGIN``, soonest first, that
    nobody is refreshing and whose last failed try is ``RETRY_AFTER`` old."""
    params = {"due_before": now + PROACTIVE_MARGIN, "now": now}
    return list(connection.execute(_DUE, params).scalars())


def enqueue_due(deps: Dependencies, send: Callable[[int], None]) -> int:
    """Send a refresh message (``send(credential_id)``) for each due credential, marked
    first so the next sweeps do not send it again; returns how many were sent."""
    now = deps.clock()
    with deps.engine.begin() as connection:
        ids = due(connection, now)
        for credential_id in ids:
            connection.execute(_SENT, {"credential_id": credential_id, "until": now + RETRY_AFTER})
    for credential_id in ids:
        send(credential_id)
    return len(ids)


def proactive(deps: Dependencies, credential_id: int) -> Attempted:
    """The refresh message's work: refresh if still due (a refused grant notifies the
    account: no post waits to say so)."""
    due_before = deps.clock() + PROACTIVE_MARGIN
    return refresh(deps, credential_id, due_before=due_before, notify=True)
