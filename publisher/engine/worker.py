"""The worker's one job: lock -> validate -> authorize -> call -> record -> act.

``process(post_id, deps)`` is plain code; the Celery task is a one-line wrapper
around it. It never publishes a post twice: the claim is atomic, every write after it is
fenced by the lease, the lease is renewed before every request to the provider and no
request outlives it, and a post whose earlier attempt may have landed is looked up at
the provider before a new call (``reconcile``, ``plan.before_call``).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from publisher.core import redact
from publisher.engine import act, call_log, lock, multistep, plan, reconcile, refresh_when
from publisher.engine.classify import Outcome, classify
from publisher.engine.concurrency import Held, Slot, busy_wait
from publisher.engine.dependencies import Dependencies
from publisher.engine.exchange import perform
from publisher.engine.finish import Attempt, Result, finish, lease_lost_before_call
from publisher.engine.lease import Lease, margin
from publisher.engine.lease import get_json as lease_get_json
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan
from publisher.engine.step_run import Cleared
from publisher.engine.steps import parts_of
from publisher.engine.telemetry import metrics, sentry
from publisher.errors import TokenError
from publisher.providers import get_provider
from publisher.providers.base import (
    Category,
    GetJson,
    MakesContainers,
    PreparedCall,
    Provider,
    PublishRequest,
    ResolvesMentions,
)

log = logging.getLogger(__name__)

__all__ = ["Result", "process"]


@dataclass(frozen=True)
class Ready:
    """A claimed post cleared to call: the request, and its call-log row if written yet."""

    provider: Provider
    request: PublishRequest
    call: PreparedCall
    call_id: int | None  # None: an ambiguous post logs its call after reconciling
    secrets: redact.Redactor  # the token in every encoding: scrubbed from all we record
    slot: Slot | None = None  # the credential's call slot, given back after the attempt


def process(post_id: int, deps: Dependencies) -> Result:
    """Take one post through the pipeline; returns what happened (never raises for a post's
    own failures; a database outage propagates so the message is retried)."""
    now = deps.clock()
    pauses = deps.switches.get(deps.engine)  # at most a second old
    if pauses.everything:
        return Result.PAUSED
    # A Core connection per transaction, from the pool: no ORM session on the hot path,
    # and nothing shared between a process's threads.
    with deps.engine.begin() as connection:
        job = lock.claim(
            connection, post_id, deps.owner, now, deps.lease, deps.settings.max_attempts
        )
        if job is None:
            log.debug("post %s not claimed", post_id)
            return Result.NOT_CLAIMED
        # Claim, checks and the call-log row share one transaction: fewer round trips.
        step = _prepare(connection, job, deps, now, pauses.providers)
    metrics.observe_start(job, now)
    redact.install_log_filter()  # again: the process may have reconfigured logging
    # From here on, whatever is logged, reported or stored goes through the job's redactor.
    secrets = step.secrets if isinstance(step, Ready | Cleared) else redact.NOTHING
    with redact.activated(secrets):
        try:
            if isinstance(step, Plan):  # a token about to expire is refreshed first
                return finish(deps, job, refresh_when.resolve(deps, job, step), None)
            if isinstance(step, Cleared):
                return multistep.run(job, deps, step, parts_of(job.text, job.parts))
            return _call(job, deps, step)
        except OperationalError:
            raise  # the database is down: the lease expires and the sweep rescues the post
        except Exception as exc:  # a bug: report it, then treat it like a transient failure
            return _crashed(deps, job, exc)
        finally:  # after the attempt is recorded (a 429's hold included), never before
            if isinstance(step, Ready | Cleared) and step.slot is not None:
                deps.limiter.release(step.slot)


def _crashed(deps: Dependencies, job: Job, exc: Exception) -> Result:
    sentry.exception(exc, job)
    # The call may have gone out before the error: reconcile before the next one.
    outcome = Outcome(Category.UNCLASSIFIED, f"{exc.__class__.__name__}: {exc}", ambiguous=True)
    decided = plan.after_call(job, outcome, deps.clock(), deps.retry_policy)
    return finish(deps, job, decided, None, crash=outcome.message)


def _prepare(
    connection: Connection,
    job: Job,
    deps: Dependencies,
    now: datetime,
    paused_providers: frozenset[str] = frozenset(),
) -> Plan | Ready | Cleared:
    """Validate and authorize (a plan: no call is made), else get the call ready (a post
    of several steps: cleared to start them)."""
    token = _token(job, deps)
    stop = (
        plan.held(job, paused_providers)
        or plan.validate(job)
        or plan.missed(job, now, deps.settings.max_lateness)
        or plan.authorize(job, now, token is not None)
        or refresh_when.at_claim(job, now)
    )
    if stop is not None:
        return stop
    assert token is not None
    if act.lease_left(job, now).total_seconds() < sum(deps.timeout) + margin(deps):
        return Plan(Action.RELEASE, reason="lease too short to call", ambiguous=job.ambiguous)
    slot = _take_slot(job, deps, now)
    if isinstance(slot, Plan):
        return slot
    try:
        provider = get_provider(job.provider)
        # A thread, media, a provider publishing from containers, or mentions to resolve
        # before the create: its steps log their calls.
        if job.parts is not None or _stepwise(provider, job.text):
            return Cleared(provider, token, redact.Redactor([token]), slot)
        request = _request(job, token)
        call = provider.prepare(request)
        secrets = redact.Redactor([token])
        call_id = (
            None if job.ambiguous else call_log.insert_start(connection, job, call, secrets, now)
        )
    except BaseException:
        deps.limiter.release(slot)
        raise
    return Ready(provider, request, call, call_id, secrets, slot)


def _take_slot(job: Job, deps: Dependencies, now: datetime) -> Slot | Plan:
    """One of the credential's call slots, or a plan that hands the post back: the
    credential is busy, or held (a 429 met by the slot's last holder, perhaps recorded
    after this claim read the credential: the limiter says so with the slot)."""
    limit = job.max_in_flight or deps.settings.credential_concurrency
    holder = f"{deps.owner}:{job.post_id}:{uuid.uuid4().hex}"
    taken = deps.limiter.acquire(job.credential_id, limit, holder, deps.settings.lease_seconds)
    if isinstance(taken, Held):
        held = plan.authorize(replace(job, rate_limited_until=taken.until), now, token_ok=True)
        return held or plan.busy(job, now, busy_wait())  # a hold ending now: soon
    if taken is None:
        return plan.busy(job, now, busy_wait())
    return taken


def _token(job: Job, deps: Dependencies) -> str | None:
    try:
        return deps.box.decrypt(job.token_encrypted)
    except TokenError:
        # WARNING, not ERROR: Sentry's logging integration would alert once per post.
        log.warning("post %s: credential %s cannot be decrypted", job.post_id, job.credential_id)
        sentry.undecryptable(job)  # once per credential; the post is released (plan)
        return None


def _request(job: Job, token: str) -> PublishRequest:
    return PublishRequest(
        base_url=job.base_url,
        token=token,
        text=job.text,
        options=job.options,
        idempotency_key=job.idempotency_key,
    )


def _call(job: Job, deps: Dependencies, ready: Ready) -> Result:
    provider, request = ready.provider, ready.request
    lease = Lease(job.lease_expires_at, job.lease_expires_at - deps.lease, ready.slot)
    get_json = lease_get_json(deps, job, lease)
    call_id = ready.call_id
    if call_id is None:  # an earlier attempt may have landed: look before calling again
        found = reconcile.look_up(provider, job, request, deps, get_json)
        stop = plan.before_call(
            job, found, reconcile.resend_rules(provider, deps), deps.clock(), deps.retry_policy
        )
        if stop is not None:
            return finish(deps, job, stop, None)
        call_id = call_log.start(deps.engine, job, ready.call, ready.secrets, deps.clock())
    budget = lease.budget(deps, job)
    if budget is None:
        return lease_lost_before_call(deps, job, call_id)
    private = deps.settings.allow_private_urls
    exchange = perform(deps.http, ready.call, deps.timeout, time.monotonic() + budget, private)
    now = deps.clock()
    outcome = classify(provider, exchange, now, request, deps.settings.retry_after_max)
    if exchange.forbidden:  # the base URL now leads somewhere we never call: not retried
        outcome = Outcome(Category.FORBIDDEN, exchange.error)
    outcome = reconcile.named_duplicate(provider, job, request, deps, get_json, outcome)
    decided = plan.after_call(job, outcome, now, deps.retry_policy)
    decided = refresh_when.after_unauthorized(deps, job, outcome, decided)  # expired?
    if decided.action is Action.GIVE_UP and decided.ambiguous:
        decided = _last_look(provider, job, request, deps, get_json, decided)
    metrics.observe_call(job, outcome, exchange)
    if decided.report:
        sentry.unclassified(job, outcome, exchange, ready.secrets)
    return finish(deps, job, decided, Attempt(call_id, exchange, outcome, ready.secrets))


def _last_look(
    provider: Provider,
    job: Job,
    request: PublishRequest,
    deps: Dependencies,
    get_json: GetJson,
    giving_up: Plan,
) -> Plan:
    """Before giving up on a post that may have landed, look for it at the provider."""
    found = reconcile.look_up(provider, job, request, deps, get_json).found
    if found is not None:
        why = "found at the provider before giving up"
        return Plan(Action.SUCCEED, published=found, reason=why)
    note = "an attempt's outcome is unknown: check the provider before approving it again"
    return replace(giving_up, message=f"{giving_up.message} ({note})")


def _stepwise(provider: Provider, text: str) -> bool:
    """Whether a one-part post still goes step by step: its provider publishes from
    containers, or its text mentions accounts to resolve before the create."""
    if isinstance(provider, MakesContainers):
        return True
    return isinstance(provider, ResolvesMentions) and bool(provider.mentioned(text))
