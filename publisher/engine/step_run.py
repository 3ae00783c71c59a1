"""One attempt at a post of several steps: what it knows so far, and how a step's call
is sent, confirmed (stored before the next step) or ends the attempt.

Shared by the steps that create parts (``multistep``) and those that upload media
(``media_steps``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from publisher.core import redact
from publisher.engine import call_log, progress
from publisher.engine.classify import Outcome
from publisher.engine.concurrency import Slot
from publisher.engine.dependencies import Dependencies
from publisher.engine.exchange import Exchange, perform
from publisher.engine.finish import Attempt, Result, finish, lease_lost_before_call
from publisher.engine.lease import Lease
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan
from publisher.engine.steps import Confirmed, Kind, Part, Step
from publisher.engine.telemetry import metrics, sentry
from publisher.providers.base import GetJson, PreparedCall, Provider


@dataclass(frozen=True)
class Cleared:
    """A claimed post of several steps, cleared to call (``worker._prepare``)."""

    provider: Provider
    token: str
    secrets: redact.Redactor
    slot: Slot | None = None


@dataclass
class Run:
    """One attempt at a multi-step post: what it knows so far."""

    job: Job
    deps: Dependencies
    cleared: Cleared
    parts: list[Part]
    lease: Lease
    get_json: GetJson
    done: dict[str, Confirmed] = field(default_factory=dict)
    waits: dict[str, float] = field(default_factory=dict)  # a poll's "ask again in" (s)
    # A confirmed step's answer said the credential's quota is spent: hold it until then
    held_until: datetime | None = None
    # An earlier attempt's publish of a container may still land (its answer was lost),
    # though the container said ready: a refusal of this attempt's publish is looked up
    late_publish: bool = False

    @property
    def provider(self) -> Provider:
        return self.cleared.provider

    def published_parts(self) -> int:
        """How many parts, from the first, are confirmed at the provider."""
        count = 0
        while f"p{count}" in self.done:
            count += 1
        return count


def send(state: Run, step: Step, call: PreparedCall) -> tuple[int, Exchange] | Result:
    """Log, renew the lease, send: the call-log row and the exchange, or the attempt's end
    when the lease was lost before sending."""
    job, deps = state.job, state.deps
    secrets = state.cleared.secrets
    call_id = call_log.start(deps.engine, job, call, secrets, deps.clock(), step=step.key)
    budget = state.lease.budget(deps, job)
    if budget is None:
        return lease_lost_before_call(deps, job, call_id)
    private = deps.settings.allow_private_urls
    deadline = time.monotonic() + budget
    return call_id, perform(deps.http, call, deps.timeout, deadline, private)


def confirm(
    state: Run,
    step: Step,
    call: tuple[int, Exchange, Outcome] | None,
    confirmed: Confirmed,
) -> Result | None:
    """Store the step's confirmation (and its call's result) before anything else; None:
    go on with the next step."""
    deps, job = state.deps, state.job
    now = deps.clock()
    with deps.engine.begin() as connection:
        if call is not None:
            call_id, exchange, outcome = call
            call_log.finish(connection, call_id, exchange, outcome, state.cleared.secrets, now)
        if step.kind is Kind.PROCESS:
            progress.mark_ready(connection, job.post_id, step.key)
        else:
            progress.record(connection, job, step.key, confirmed, now)
    if call is not None:
        metrics.observe_call(job, call[2], call[1])
        _note_spent(state, call[2])
    if step.kind is Kind.PROCESS:
        confirmed = replace(state.done[step.key], ready=True)
    state.done[step.key] = confirmed
    if step.kind is Kind.CREATE:  # the part an earlier attempt left in doubt is settled
        state.job = replace(job, ambiguous=False)
    return None


def _note_spent(state: Run, outcome: Outcome) -> None:
    if outcome.rate_limited and outcome.not_before is not None:
        state.held_until = max(state.held_until or outcome.not_before, outcome.not_before)


def stop(
    state: Run,
    step: Step,
    call_id: int,
    exchange: Exchange,
    outcome: Outcome,
    decided: Plan,
) -> Result:
    """End the attempt at a failed step, as a one-step publish's failed call would."""
    job, secrets = state.job, state.cleared.secrets
    metrics.observe_call(job, outcome, exchange)
    if decided.report:
        sentry.unclassified(job, outcome, exchange, secrets)
    attempt = Attempt(call_id, exchange, outcome, secrets)
    return finish(state.deps, job, named(state, step, decided), attempt)


def named(state: Run, step: Step, decided: Plan) -> Plan:
    """``decided`` with its message naming the step, and the parts already published
    (a cancelled thread says which of its parts are out)."""
    if decided.action in (Action.SUCCEED, Action.RELEASE):
        return decided
    total = len(state.parts)
    if total == 1 and step.kind is Kind.CREATE:
        return decided
    message = f"{step.label(total)}: {decided.message or decided.reason}"
    published = state.published_parts()
    if published == 1:
        message += f"; part 1 of {total} is published"
    elif published > 1:
        message += f"; parts 1-{published} of {total} are published"
    return replace(decided, message=message)
