"""Deciding what to do with a claimed post: the ``Plan`` value the worker applies.

Three places decide, all pure: ``validate`` (billing, pauses), ``authorize`` (the
credential), and ``after_call`` (an ``Outcome`` of the provider call). The worker applies
whatever plan comes back in one place (``act``).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.core.models import Backoff
from publisher.engine.backoff import delay
from publisher.engine.classify import Outcome
from publisher.engine.lock import Job
from publisher.providers.base import Category, Published


class Action(enum.StrEnum):
    SUCCEED = "succeed"  # published: done
    DEFER = "defer"  # transient failure: retry at next_run_at
    GIVE_UP = "give_up"  # the last attempt failed: back to draft
    CANCEL = "cancel"  # stop for good, with a reason
    RELEASE = "release"  # hand back untouched, the attempt refunded


# A token the configured keys cannot decrypt is the operator's to fix (a missing or wrong
# PUBLISHER_SECRET_KEY): its posts wait this long, untouched, before they are tried again.
UNDECRYPTABLE_WAIT = timedelta(minutes=5)


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str | None = None  # cancel reason, or why it was deferred/released
    category: str | None = None  # the error category recorded on the post
    message: str | None = None
    next_run_at: datetime | None = None
    published: Published | None = None
    ambiguous: bool = False  # keep reconciling before the next attempt
    notify: str | None = None  # notification kind for the main app
    invalidate_credential: bool = False
    hold_credential_until: datetime | None = None  # defer the credential's other posts
    report: bool = False  # send to Sentry for triage
    unconfirmed_since: datetime | None = None  # lookups cannot tell yet (kept while waiting)
    attempt_used: bool = True  # False: no publish was tried (the attempt is refunded)
    refresh_credential: bool = False  # refresh the token first (engine/refresh.resolve)


@dataclass(frozen=True)
class Reconciled:
    """What a lookup after an ambiguous attempt found out."""

    found: Published | None  # our post at the provider (not one of our other posts')
    known: bool  # the provider could tell; False: the lookup failed or is impossible


@dataclass(frozen=True)
class ResendRules:
    """What makes calling again safe after an ambiguous attempt, for one provider."""

    idempotency_window: timedelta | None  # a repeated key is harmless this long
    can_lookup: bool
    reconcile_timeout: timedelta  # how long to wait for a lookup that can tell


@dataclass(frozen=True)
class RetryPolicy:
    base: float
    cap: float


def validate(job: Job) -> Plan | None:
    """A cancel plan if the account may not publish now, else None."""
    if job.billing_status != "active":
        return Plan(
            Action.CANCEL,
            reason="billing_inactive",
            notify="cancelled",
            message=f"the account's billing status is {job.billing_status!r}",
        )
    if job.account_paused:
        return Plan(
            Action.CANCEL, reason="paused", notify="cancelled", message="the account is paused"
        )
    return None


def held(job: Job, paused_providers: frozenset[str]) -> Plan | None:
    """A plan handing the post back untouched (no attempt used, not enqueued again: the
    sweep skips it until the switch is lifted) when its credential or provider is
    paused, else None."""
    if job.credential_paused:
        return Plan(Action.RELEASE, reason="credential paused", ambiguous=job.ambiguous)
    if job.provider in paused_providers:
        return Plan(Action.RELEASE, reason=f"{job.provider} paused", ambiguous=job.ambiguous)
    return None


def missed(job: Job, now: datetime, default_limit: float | None) -> Plan | None:
    """A plan back to draft (no call, no attempt used) when the post is claimed later
    after its time than its lateness limit allows (the post's, its account's, else the
    setting's; none: publish however late), else None."""
    limit = job.max_lateness if job.max_lateness is not None else default_limit
    if limit is None or job.scheduled_at is None:
        return None
    late = (now - job.scheduled_at).total_seconds()
    if late <= limit:
        return None
    return Plan(
        Action.GIVE_UP,
        reason="missed",
        category="missed",
        message=f"claimed {late:.0f} s after its time; its limit is {limit:g} s",
        notify="missed",
        attempt_used=False,
    )


def authorize(job: Job, now: datetime, token_ok: bool) -> Plan | None:
    """A plan that stops before the call if the credential cannot be used, else None.

    A token that cannot be decrypted is an engine fault, not the user's: the post is
    released untouched (no attempt used, no notification) until the keys are fixed."""
    if not token_ok:
        return Plan(
            Action.RELEASE,
            reason="undecryptable",
            message="the stored token cannot be decrypted with the configured keys",
            next_run_at=now + UNDECRYPTABLE_WAIT,
            ambiguous=job.ambiguous,
        )
    if job.credential_invalid:
        return Plan(
            Action.CANCEL,
            reason="unauthorized",
            category="unauthorized",
            message="the provider rejected this credential",
            notify="reauthorize",
        )
    if job.rate_limited_until is not None and job.rate_limited_until > now:
        return Plan(
            Action.RELEASE,
            reason="credential rate-limited",
            next_run_at=job.rate_limited_until,
            ambiguous=job.ambiguous,
        )
    return None


def busy(job: Job, now: datetime, wait: float) -> Plan:
    """The credential has as many calls in flight as it allows: hand the post back
    untouched (no attempt used) to try again ``wait`` seconds from ``now``."""
    return Plan(
        Action.RELEASE,
        reason="credential busy",
        next_run_at=now + timedelta(seconds=wait),
        ambiguous=job.ambiguous,
        unconfirmed_since=job.unconfirmed_since,
    )


def before_call(
    job: Job,
    reconciled: Reconciled,
    rules: ResendRules,
    now: datetime,
    policy: RetryPolicy,
) -> Plan | None:
    """After a lookup for an ambiguous post: a plan that makes no call, or None to call.

    Never calls again blind: only when the lookup said "not there", or when the
    provider's idempotency key still covers every earlier attempt (all sent the same key
    since ``first_started_at``). Otherwise the lookup is tried again later (no attempt
    used), and after ``reconcile_timeout`` the post returns to draft as ``unconfirmed``.
    """
    if reconciled.found is not None:
        why = "found at the provider after an ambiguous attempt"
        return Plan(Action.SUCCEED, published=reconciled.found, reason=why)
    if reconciled.known:
        return None
    window = rules.idempotency_window
    first = job.first_started_at or now
    if window is not None and now < first + window:
        return None
    waited = now - (job.unconfirmed_since or now)
    if not rules.can_lookup or waited >= rules.reconcile_timeout:
        return Plan(
            Action.GIVE_UP,
            reason="unconfirmed",
            category="unconfirmed",
            message="an attempt may have published it and the provider cannot confirm",
            ambiguous=True,
            notify="unconfirmed",
            attempt_used=False,
        )
    # Wait as long as we have waited so far (between the base and the cap): doubling.
    wait = min(max(waited.total_seconds(), policy.base), policy.cap)
    return Plan(
        Action.RELEASE,
        reason="waiting for the provider to confirm an ambiguous attempt",
        next_run_at=now + timedelta(seconds=wait),
        ambiguous=True,
        unconfirmed_since=job.unconfirmed_since or now,
    )


def _retry(
    job: Job, outcome: Outcome, now: datetime, policy: RetryPolicy, rng: random.Random | None
) -> Plan:
    ambiguous = job.ambiguous or outcome.ambiguous
    report = outcome.category is Category.UNCLASSIFIED
    if job.attempt >= job.max_attempts:
        return Plan(
            Action.GIVE_UP,
            reason=f"gave up after {job.attempt} attempts",
            category=outcome.category.value,
            message=outcome.message,
            ambiguous=ambiguous,
            notify="gave_up",
            report=report,
        )
    base = job.retry_base if job.retry_base is not None else policy.base
    wait = delay(Backoff(job.backoff), job.attempt, base, policy.cap, rng)
    when = now + timedelta(seconds=wait)
    if outcome.not_before is not None and outcome.not_before > when:
        when = outcome.not_before
    return Plan(
        Action.DEFER,
        reason=outcome.category.value,
        category=outcome.category.value,
        message=outcome.message,
        next_run_at=when,
        ambiguous=ambiguous,
        hold_credential_until=when if outcome.rate_limited else None,
        report=report,
    )


def after_call(
    job: Job, outcome: Outcome, now: datetime, policy: RetryPolicy, rng: random.Random | None = None
) -> Plan:
    """What to do after the provider answered (or did not) with ``outcome``."""
    match outcome.category:
        case Category.SUCCESS:
            spent = outcome.not_before if outcome.rate_limited else None
            return Plan(Action.SUCCEED, published=outcome.published, hold_credential_until=spent)
        case Category.DUPLICATE if job.ambiguous:
            # An earlier attempt timed out but did land: this is our own post.
            return Plan(
                Action.SUCCEED,
                published=outcome.published,
                reason="duplicate after an ambiguous attempt",
            )
        case Category.UNAUTHORIZED:
            return Plan(
                Action.CANCEL,
                reason="unauthorized",
                category="unauthorized",
                message=outcome.message,
                notify="reauthorize",
                invalidate_credential=True,
            )
        case Category.FORBIDDEN | Category.DUPLICATE:
            return Plan(
                Action.CANCEL,
                reason="forbidden",
                category=outcome.category.value,
                message=outcome.message,
                notify="forbidden",
            )
        case _:
            return _retry(job, outcome, now, policy, rng)
