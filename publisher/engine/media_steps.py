"""The media steps of a multi-step publish: upload each file (in chunks where the
provider wants them), describe it where its alt text is a request of its own, and wait
while the provider processes it.

An upload cut short is sent again from its first request (an unused upload publishes
nothing, and providers drop it within a day); a confirmed upload is never sent again. A
file that takes long to process hands the post back (no attempt used) with a
``next_run_at``, instead of holding a worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from publisher.engine import call_log, plan, refresh_when
from publisher.engine.classify import Outcome, classify, spent_until
from publisher.engine.exchange import Exchange
from publisher.engine.finish import Result, finish
from publisher.engine.plan import Action, Plan
from publisher.engine.step_run import Run, confirm, named, send, stop
from publisher.engine.steps import Confirmed, Step, is_done
from publisher.engine.telemetry import metrics
from publisher.providers.base import Category, MediaUploader, PreparedCall, Uploaded

# Media processing (a video, a large GIF) is waited for in the worker only this long per
# poll and this many polls; longer, the post is handed back with a next_run_at, and the
# worker serves other posts meanwhile.
INLINE_WAIT = 2.0  # s
INLINE_POLLS = 3
# When the provider names no wait, poll again after this long.
DEFAULT_POLL_WAIT = 5.0  # s


def upload(state: Run, step: Step, uploader: MediaUploader) -> Result | None:
    from publisher.engine import media_source  # the blob store's client, on first use

    job, deps = state.job, state.deps
    item = state.parts[step.part].media[step.media or 0]
    budget = state.lease.budget(deps, job)  # a fetch from a slow host counts too
    if budget is None:
        return Result.LEASE_LOST
    deadline = time.monotonic() + budget
    loaded = media_source.load(item, deps, rule=state.provider.media_rule, deadline=deadline)
    if isinstance(loaded, Outcome):  # the file could not be had (gone, too big, down)
        decided = plan.after_call(job, loaded, deps.clock(), deps.retry_policy)
        return finish(deps, job, named(state, step, decided), None)
    base, token = job.base_url, state.cleared.token
    got = answer(state, step, uploader.prepare_upload(base, token, loaded), uploader.parse_upload)
    if isinstance(got, Result):
        return got
    media_id, pending = got.answer.media_id, None
    for call in uploader.continue_upload(base, token, loaded, media_id):  # chunks, then end
        if pending is not None:
            chunk = answer(state, step, pending, lambda status, body: Uploaded(media_id, False))
            if isinstance(chunk, Result):
                return chunk
            log_only(state, chunk)
        pending = call
    if pending is not None:
        got = answer(state, step, pending, uploader.parse_upload)
        if isinstance(got, Result):
            return got
    return _settle(state, step, got, record=True)


def describe(state: Run, step: Step, uploader: MediaUploader) -> Result | None:
    job = state.job
    media_id = state.done[f"p{step.part}.m{step.media}"].external_id
    alt = str(state.parts[step.part].media[step.media or 0].get("alt") or "")
    call = uploader.prepare_describe(job.base_url, state.cleared.token, media_id, alt)

    def parse(status: int, body: object) -> Uploaded | None:
        return Uploaded(media_id, ready=True)  # any 2xx: described

    return media_call(state, step, call, parse, record=True)


def process(state: Run, step: Step, uploader: MediaUploader) -> Result | None:
    """Poll until the provider has processed the upload; hand the post back while it
    takes long (attempt refunded), fail the post when processing failed."""
    job, deps = state.job, state.deps
    media_id = state.done[step.key].external_id
    for _ in range(INLINE_POLLS):
        call = uploader.prepare_poll(job.base_url, state.cleared.token, media_id)

        def parse(status: int, body: object) -> Uploaded | None:
            return uploader.parse_poll(status, body, media_id)

        ended = media_call(state, step, call, parse, record=False)
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


Parse = Callable[[int, Any], Uploaded | None]


@dataclass(frozen=True)
class Answered:
    """A media call the provider answered with what was asked."""

    call_id: int
    exchange: Exchange
    outcome: Outcome
    answer: Uploaded


def media_call(
    state: Run, step: Step, call: PreparedCall, parse: Parse, record: bool
) -> Result | None:
    """Send one description or poll and act on its answer: None to go on (the step
    confirmed, or still processing: ``state.waits`` says how long to wait)."""
    got = answer(state, step, call, parse)
    if isinstance(got, Result):
        return got
    return _settle(state, step, got, record)


def answer(state: Run, step: Step, call: PreparedCall, parse: Parse) -> Answered | Result:
    """Send a media call: its answer, or the attempt's end (a failure, a lost lease)."""
    sent = send(state, step, call)
    if isinstance(sent, Result):
        return sent
    call_id, exchange = sent
    deps = state.deps
    answer, outcome = _read(state, exchange, parse)
    if answer is not None and outcome.category is Category.SUCCESS:
        return Answered(call_id, exchange, outcome, answer)
    decided = plan.after_call(state.job, outcome, deps.clock(), deps.retry_policy)
    decided = refresh_when.after_unauthorized(deps, state.job, outcome, decided)  # expired?
    return stop(state, step, call_id, exchange, outcome, decided)


def _settle(state: Run, step: Step, got: Answered, record: bool) -> Result | None:
    """Store what the answer confirms (an upload, a file now processed); a file still
    processing is only logged, and ``state.waits`` says when to ask again."""
    answer = got.answer
    if record or answer.ready:
        call = (got.call_id, got.exchange, got.outcome)
        return confirm(state, step, call, Confirmed(answer.media_id, ready=answer.ready))
    log_only(state, got)
    if answer.wait is not None:
        state.waits[step.key] = answer.wait
    return None


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
    deps = state.deps
    until = spent_until(exchange, deps.clock(), deps.settings.retry_after_max)
    return answer, Outcome(Category.SUCCESS, not_before=until, rate_limited=until is not None)


def log_only(state: Run, got: Answered) -> None:
    """Finish the call's log row; nothing is confirmed yet."""
    deps = state.deps
    metrics.observe_call(state.job, got.outcome, got.exchange)
    with deps.engine.begin() as connection:
        secrets, now = state.cleared.secrets, deps.clock()
        call_log.finish(connection, got.call_id, got.exchange, got.outcome, secrets, now)
