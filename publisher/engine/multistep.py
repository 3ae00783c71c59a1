"""The worker's loop for a post of several steps: media uploads, then each part of a thread.

Runs after the claim, checks and call slot (``worker``), under the same rules as a
one-step publish: the lease is renewed before every request and no request outlives it;
every request is in the call log (``api_calls.step`` names its step); each confirmed step
is stored with its call-log row before the next one starts (``progress``), so a retry
resumes after the last confirmed step and never repeats one. After an attempt that may
have landed, the first part still to create is looked up at the provider before it is
sent again (``reconcile``, ``plan.before_call``); a media upload is simply sent again (an
unused upload publishes nothing, and providers drop it within a day).

A step that fails ends the attempt as a one-step publish's call would (``plan.after_call``),
its message naming the step and the parts already published: a transient failure retries
later from that step, a refusal cancels the post with parts 1..k listed as published.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from publisher.core import redact
from publisher.engine import call_log, plan, progress, reconcile, refresh_when
from publisher.engine.classify import Outcome, classify
from publisher.engine.concurrency import Slot
from publisher.engine.dependencies import Dependencies
from publisher.engine.exchange import Exchange, perform
from publisher.engine.finish import Attempt, Result, finish, lease_lost_before_call
from publisher.engine.lease import Lease
from publisher.engine.lease import get_json as lease_get_json
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan, ResendRules
from publisher.engine.steps import (
    Confirmed,
    Kind,
    Part,
    Step,
    is_done,
    media_ids,
    part_key,
    sequence,
)
from publisher.engine.telemetry import metrics, sentry
from publisher.providers.base import (
    Category,
    GetJson,
    MediaUploader,
    PreparedCall,
    Provider,
    Published,
    PublishRequest,
    Uploaded,
)

# Media processing (a video, a large GIF) is waited for in the worker only this long per
# poll and this many polls; longer, the post is handed back with a next_run_at, and the
# worker serves other posts meanwhile.
INLINE_WAIT = 2.0  # s
INLINE_POLLS = 3
# When the provider names no wait, poll again after this long.
DEFAULT_POLL_WAIT = 5.0  # s


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

    @property
    def provider(self) -> Provider:
        return self.cleared.provider

    def published_parts(self) -> int:
        """How many parts, from the first, are confirmed at the provider."""
        count = 0
        while f"p{count}" in self.done:
            count += 1
        return count


def run(job: Job, deps: Dependencies, cleared: Cleared, parts: list[Part]) -> Result:
    """Do every step still to do, in order; returns what happened to the post."""
    lease = Lease(job.lease_expires_at, job.lease_expires_at - deps.lease, cleared.slot)
    state = Run(job, deps, cleared, parts, lease, lease_get_json(deps, job, lease))
    with deps.engine.begin() as connection:
        state.done = progress.load(connection, job.post_id)
    uploader = cleared.provider.uploader
    describes = uploader is not None and uploader.describes
    for step in sequence(parts, uploads=uploader is not None, describes=describes):
        if is_done(step, state.done):
            continue
        ended = _do(state, step, uploader)
        if ended is not None:
            return ended
    first = state.done["p0"]
    done = Plan(Action.SUCCEED, published=Published(first.external_id, first.external_url))
    return finish(deps, state.job, done, None)


def _do(state: Run, step: Step, uploader: MediaUploader | None) -> Result | None:
    if step.kind is Kind.CREATE:
        return _create(state, step)
    assert uploader is not None
    if step.kind is Kind.UPLOAD:
        return _upload(state, step, uploader)
    if step.kind is Kind.DESCRIBE:
        return _describe(state, step, uploader)
    return _process(state, step, uploader)


# Creating a part ---------------------------------------------------------------------


def _request(state: Run, step: Step) -> PublishRequest:
    job, part = state.job, state.parts[step.part]
    uploads = state.provider.uploader is not None
    return PublishRequest(
        base_url=job.base_url,
        token=state.cleared.token,
        text=part.text,
        options=job.options,
        idempotency_key=part_key(job.idempotency_key, step.part),
        reply_to=state.done[f"p{step.part - 1}"].external_id if step.part else None,
        media_ids=media_ids(step.part, len(part.media), state.done) if uploads else (),
        media=() if uploads else part.media,
        part=step.part,
        parts=len(state.parts),
    )


def _create(state: Run, step: Step) -> Result | None:
    job, deps, provider = state.job, state.deps, state.provider
    request = _request(state, step)
    if job.ambiguous:  # an earlier attempt may have created this part: look first
        found = reconcile.look_up(provider, job, request, deps, state.get_json)
        stop = plan.before_call(job, found, _rules(state), deps.clock(), deps.retry_policy)
        if stop is not None and stop.action is Action.SUCCEED and stop.published:
            return _confirm(state, step, None, Confirmed.of(stop.published))
        if stop is not None:
            return finish(deps, job, _named(state, step, stop), None)
    sent = _send(state, step, provider.prepare(request))
    if isinstance(sent, Result):
        return sent
    call_id, exchange = sent
    outcome = classify(provider, exchange, deps.clock(), request, deps.settings.retry_after_max)
    if exchange.forbidden:  # the base URL now leads somewhere we never call
        outcome = Outcome(Category.FORBIDDEN, exchange.error)
    if outcome.category is Category.DUPLICATE and job.ambiguous and outcome.published is None:
        found = reconcile.look_up(provider, job, request, deps, state.get_json)
        outcome = Outcome(Category.DUPLICATE, outcome.message, published=found.found)
    decided = plan.after_call(job, outcome, deps.clock(), deps.retry_policy)
    decided = refresh_when.after_unauthorized(deps, job, outcome, decided)  # expired?
    if decided.action is Action.SUCCEED and decided.published is not None:
        return _confirm(state, step, (call_id, exchange, outcome), Confirmed.of(decided.published))
    return _stop(state, step, call_id, exchange, outcome, decided)


def _rules(state: Run) -> ResendRules:
    timeout = timedelta(seconds=state.deps.settings.reconcile_timeout)
    provider = state.provider
    return ResendRules(provider.idempotency_window, provider.can_lookup, timeout)


# Media -------------------------------------------------------------------------------


def _upload(state: Run, step: Step, uploader: MediaUploader) -> Result | None:
    from publisher.engine import media_source  # the blob store's client, on first use

    job, deps = state.job, state.deps
    item = state.parts[step.part].media[step.media or 0]
    loaded = media_source.load(item, deps)
    if isinstance(loaded, Outcome):  # the file could not be had (gone, too big, down)
        decided = plan.after_call(job, loaded, deps.clock(), deps.retry_policy)
        return finish(deps, job, _named(state, step, decided), None)
    call = uploader.prepare_upload(job.base_url, state.cleared.token, loaded)
    return _media_call(state, step, call, uploader.parse_upload, record=True)


def _describe(state: Run, step: Step, uploader: MediaUploader) -> Result | None:
    job = state.job
    media_id = state.done[f"p{step.part}.m{step.media}"].external_id
    alt = str(state.parts[step.part].media[step.media or 0].get("alt") or "")
    call = uploader.prepare_describe(job.base_url, state.cleared.token, media_id, alt)

    def parse(status: int, body: object) -> Uploaded | None:
        return Uploaded(media_id, ready=True)  # any 2xx: described

    return _media_call(state, step, call, parse, record=True)


def _process(state: Run, step: Step, uploader: MediaUploader) -> Result | None:
    """Poll until the provider has processed the upload; hand the post back while it
    takes long (attempt refunded), fail the post when processing failed."""
    job, deps = state.job, state.deps
    media_id = state.done[step.key].external_id
    for _ in range(INLINE_POLLS):
        call = uploader.prepare_poll(job.base_url, state.cleared.token, media_id)

        def parse(status: int, body: object) -> Uploaded | None:
            return uploader.parse_poll(status, body, media_id)

        ended = _media_call(state, step, call, parse, record=False)
        if ended is not None or is_done(step, state.done):
            return ended
        wait = state.waits.pop(step.key, None) or DEFAULT_POLL_WAIT
        if wait > INLINE_WAIT:
            break
        time.sleep(wait)
    else:
        wait = DEFAULT_POLL_WAIT
    later = Plan(
        Action.RELEASE,
        reason=f"{step.label(len(state.parts))} is still processing at the provider",
        next_run_at=deps.clock() + timedelta(seconds=wait),
        ambiguous=job.ambiguous,
    )
    return finish(deps, job, later, None)


# Calls, and what follows them ----------------------------------------------------------


def _send(state: Run, step: Step, call: PreparedCall) -> tuple[int, Exchange] | Result:
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


Parse = Callable[[int, Any], Uploaded | None]


def _media_call(
    state: Run, step: Step, call: PreparedCall, parse: Parse, record: bool
) -> Result | None:
    """Send one upload, description or poll and act on its answer: None to go on (the
    step confirmed, or still processing: ``state.waits`` says how long to wait)."""
    sent = _send(state, step, call)
    if isinstance(sent, Result):
        return sent
    call_id, exchange = sent
    deps = state.deps
    answer, outcome = _read(state, exchange, parse)
    if answer is not None and outcome.category is Category.SUCCESS:
        confirmed = Confirmed(answer.media_id, ready=answer.ready)
        if record or answer.ready:
            return _confirm(state, step, (call_id, exchange, outcome), confirmed)
        _log_only(state, call_id, exchange, outcome)
        if answer.wait is not None:
            state.waits[step.key] = answer.wait
        return None
    decided = plan.after_call(state.job, outcome, deps.clock(), deps.retry_policy)
    decided = refresh_when.after_unauthorized(deps, state.job, outcome, decided)  # expired?
    return _stop(state, step, call_id, exchange, outcome, decided)


def _read(state: Run, exchange: Exchange, parse: Parse) -> tuple[Uploaded | None, Outcome]:
    """A media call's answer and outcome. Never ambiguous: sending an upload again
    publishes nothing."""
    status = exchange.status
    if status is None or not 200 <= status < 300 or exchange.oversized:
        deps = state.deps
        outcome = classify(
            state.provider, exchange, deps.clock(), None, deps.settings.retry_after_max
        )
        return None, replace(outcome, ambiguous=False)
    try:
        answer = parse(status, exchange.json())
    except (KeyError, TypeError, ValueError, AttributeError):
        answer = None
    if answer is None:
        return None, Outcome(Category.UNCLASSIFIED, f"HTTP {status} with an unreadable body")
    if answer.failed is not None:
        why = f"the provider could not process it: {answer.failed}"
        return answer, Outcome(Category.FORBIDDEN, why)
    return answer, Outcome(Category.SUCCESS)


def _log_only(state: Run, call_id: int, exchange: Exchange, outcome: Outcome) -> None:
    deps = state.deps
    metrics.observe_call(state.job, outcome, exchange)
    with deps.engine.begin() as connection:
        call_log.finish(connection, call_id, exchange, outcome, state.cleared.secrets, deps.clock())


def _confirm(
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
    if step.kind is Kind.PROCESS:
        confirmed = replace(state.done[step.key], ready=True)
    state.done[step.key] = confirmed
    if step.kind is Kind.CREATE:  # the part an earlier attempt left in doubt is settled
        state.job = replace(job, ambiguous=False)
    return None


def _stop(
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
    return finish(state.deps, job, _named(state, step, decided), attempt)


def _named(state: Run, step: Step, decided: Plan) -> Plan:
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
