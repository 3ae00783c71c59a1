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

from dataclasses import replace
from datetime import datetime

from publisher.engine import (
    container_steps,
    media_files,
    media_steps,
    mentions,
    plan,
    progress,
    reconcile,
    refresh_when,
)
from publisher.engine.classify import Outcome, classify
from publisher.engine.dependencies import Dependencies
from publisher.engine.finish import Result, finish
from publisher.engine.lease import Lease
from publisher.engine.lease import get_json as lease_get_json
from publisher.engine.lock import Job
from publisher.engine.plan import Action, Plan
from publisher.engine.step_run import Cleared, Run, confirm, named, send, stop
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
from publisher.providers.base import (
    CarriesFiles,
    Category,
    MakesContainers,
    MediaUploader,
    Published,
    PublishRequest,
    ResolvesMentions,
)
from publisher.providers.webhook_media import content_url


def run(job: Job, deps: Dependencies, cleared: Cleared, parts: list[Part]) -> Result:
    """Do every step still to do, in order; returns what happened to the post."""
    lease = Lease(job.lease_expires_at, job.lease_expires_at - deps.lease, cleared.slot)
    state = Run(job, deps, cleared, parts, lease, lease_get_json(deps, job, lease))
    with deps.engine.begin() as connection:
        state.done = progress.load(connection, job.post_id)
    uploader = cleared.provider.uploader
    uploads = uploader is not None
    describes = uploader.describes if uploader else lambda kind: False
    contains = isinstance(cleared.provider, MakesContainers)
    for step in sequence(parts, uploads, describes, contains):
        if is_done(step, state.done):
            continue
        if state.held_until is not None:  # the last answer said the quota is spent
            return finish(deps, state.job, _held(state, state.held_until), None)
        ended = _do(state, step, uploader)
        if ended is not None:
            return ended
    first = state.done["p0"]
    published = Published(first.external_id, first.external_url)
    done = Plan(Action.SUCCEED, published=published, hold_credential_until=state.held_until)
    return finish(deps, state.job, done, None)


def _held(state: Run, until: datetime) -> Plan:
    """Hand the post back until the provider's quota returns (the attempt refunded; the
    steps confirmed so far are kept), holding the credential's other posts as well."""
    return Plan(
        Action.RELEASE,
        reason="the provider's rate limit is spent; resuming after it resets",
        next_run_at=until,
        ambiguous=state.job.ambiguous,
        hold_credential_until=until,
    )


def _do(state: Run, step: Step, uploader: MediaUploader | None) -> Result | None:
    if step.kind is Kind.CREATE:
        return _create(state, step)
    if step.media is None:  # the part's container: made, then checked before the publish
        return container_steps.do(state, step, _request(state, step))
    assert uploader is not None
    if step.kind is Kind.UPLOAD:
        return media_steps.upload(state, step, uploader)
    if step.kind is Kind.DESCRIBE:
        return media_steps.describe(state, step, uploader)
    return media_steps.process(state, step, uploader)


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
        media=_described(part) if uploads else _by_reference(state, part),
        part=step.part,
        parts=len(state.parts),
        container_id=_container(state, step.part),
    )


def _completed(state: Run, step: Step, request: PublishRequest) -> PublishRequest | Result:
    """The request with what is read just before the call: the files a create carries
    (``CarriesFiles``), the accounts its mentions name (``ResolvesMentions``); or the
    attempt's end when a file cannot be had."""
    provider = state.provider
    if isinstance(provider, CarriesFiles) and state.parts[step.part].media:
        files = media_files.load(state, step)
        if isinstance(files, Result):
            return files
        request = replace(request, files=files)
    if isinstance(provider, ResolvesMentions):
        request = replace(request, mentions=mentions.resolve(state.get_json, provider, request))
    return request


def _settled(state: Run, request: PublishRequest, outcome: Outcome) -> Outcome:
    """The outcome, after a lookup where an earlier attempt of ours may explain it: a
    duplicate refusal after an ambiguous attempt (the post it names, or found), and a
    refused publish of a container whose earlier publish lost its answer (that publish
    may have landed after the container said ready; a container publishes once, so the
    refusal may stand for our own post: found, it is ours)."""
    job, deps = state.job, state.deps
    outcome = reconcile.named_duplicate(state.provider, job, request, deps, state.get_json, outcome)
    if outcome.category is Category.FORBIDDEN and state.late_publish:
        found = reconcile.look_up(state.provider, job, request, deps, state.get_json)
        if found.found is not None:
            state.job = replace(job, ambiguous=True)  # it was ambiguous after all
            return Outcome(Category.DUPLICATE, outcome.message, published=found.found)
    return outcome


def _container(state: Run, part: int) -> str | None:
    """The part's confirmed container id (``MakesContainers``), if it has one."""
    found = state.done.get(f"p{part}.c")
    return found.external_id if found is not None else None


def _described(part: Part) -> list[dict[str, object]]:
    """The part's media as publisher holds them, without URLs, for a provider that
    uploads them yet takes their alt text on the post (LinkedIn's ``altText``)."""
    return [
        {"id": item["id"], "type": item.get("type"), "alt": item.get("alt")} for item in part.media
    ]


def _by_reference(state: Run, part: Part) -> list[dict[str, object]]:
    """The part's media for a provider that fetches them itself (a webhook): each with
    the URL to fetch it from (a file given by URL keeps it; an uploaded one is
    publisher's own ``GET /v1/media/{id}/content``, behind the API key)."""
    api_url = state.deps.settings.api_url
    return [
        {
            "id": item["id"],
            "type": item.get("type"),
            "alt": item.get("alt"),
            "url": item.get("url") or content_url(api_url, int(item["id"])),
        }
        for item in part.media
    ]


def _create(state: Run, step: Step) -> Result | None:
    job, deps, provider = state.job, state.deps, state.provider
    request = _request(state, step)
    if job.ambiguous:  # an earlier attempt may have created this part: look first
        found = reconcile.look_up(provider, job, request, deps, state.get_json)
        before = plan.before_call(
            job, found, reconcile.resend_rules(provider, deps), deps.clock(), deps.retry_policy
        )
        if before is not None and before.action is Action.SUCCEED and before.published:
            return confirm(state, step, None, Confirmed.of(before.published))
        if before is not None:
            return finish(deps, job, named(state, step, before), None)
    completed = _completed(state, step, request)
    if isinstance(completed, Result):
        return completed
    request = completed
    sent = send(state, step, provider.prepare(request))
    if isinstance(sent, Result):
        return sent
    call_id, exchange = sent
    outcome = classify(provider, exchange, deps.clock(), request, deps.settings.retry_after_max)
    if exchange.forbidden:  # the base URL now leads somewhere we never call
        outcome = Outcome(Category.FORBIDDEN, exchange.error)
    outcome = _settled(state, request, outcome)
    decided = plan.after_call(state.job, outcome, deps.clock(), deps.retry_policy)
    decided = refresh_when.after_unauthorized(deps, job, outcome, decided)  # expired?
    if decided.action is Action.SUCCEED and decided.published is not None:
        return confirm(state, step, (call_id, exchange, outcome), Confirmed.of(decided.published))
    return stop(state, step, call_id, exchange, outcome, decided)
