"""The container steps of a multi-step publish, for a provider that publishes each part
from a container (``providers.base.MakesContainers``: Meta Threads).

For each part, before its create: ``make`` sends the container request and confirms the
container id (row ``p{n}.c``) the moment the provider answers; then, at every attempt
until the part is created, ``check`` asks the container's state right before the
publish, and the state decides (``after``):

- ready, not published: publish it (again, after a publish whose answer was lost: a
  container publishes at most once, so this cannot make a second post);
- published: the post exists; it is found at the provider (``Provider.lookup``) and the
  part confirmed, never published again;
- processing: poll a few times in the worker, then hand the post back (no attempt used);
- expired, or failed after a publish of ours: nothing was published; the row is dropped
  and the post handed back, so the next attempt makes a new container;
- failed otherwise (a new container the provider could not process): the part is refused.

A container request whose answer is lost made at most a container nobody sees, which
expires unpublished: it is sent again like a media upload, never treated as ambiguous.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from publisher.engine import media_steps, plan, progress, reconcile
from publisher.engine.classify import Outcome
from publisher.engine.finish import Result, finish
from publisher.engine.plan import Action, Plan, Reconciled
from publisher.engine.step_run import Run, confirm, named
from publisher.engine.steps import Confirmed, Kind, Step
from publisher.providers.base import (
    Category,
    Contained,
    ContainerState,
    MakesContainers,
    PublishRequest,
    Uploaded,
)

# A container is polled in the worker this many times, this far apart; longer, the post is
# handed back (Meta: text containers are ready at once; media ones may take a minute,
# https://developers.facebook.com/docs/threads/troubleshooting).
INLINE_POLLS = 3
POLL_WAIT = 1.0  # s
HAND_BACK = timedelta(seconds=10)  # when a container still processing is asked again
# A dead container's post is handed back this long before a new container is made: a
# provider that reports every new container dead at once cannot spin a worker.
RENEW_WAIT = timedelta(seconds=2)


class Next(enum.StrEnum):
    """What an attempt does about a part, from its container's state."""

    PUBLISH = "publish"  # ready and not published: publish it
    FIND = "find"  # published: find the post, confirm the part
    WAIT = "wait"  # still processing: ask again later
    RENEW = "renew"  # dead, nothing published: make a new container
    REFUSE = "refuse"  # the provider could not process it: refuse the part


AFTER: Mapping[ContainerState, Next] = {
    ContainerState.READY: Next.PUBLISH,
    ContainerState.PUBLISHED: Next.FIND,
    ContainerState.PROCESSING: Next.WAIT,
    ContainerState.EXPIRED: Next.RENEW,
    ContainerState.FAILED: Next.REFUSE,
}


def after(state: ContainerState, ambiguous: bool) -> Next:
    """The next move for a container in ``state``. A container that failed after a publish
    that may have landed (``ambiguous``) failed its publishing, not its processing:
    nothing was published, so a new one is made rather than the part refused."""
    if state is ContainerState.FAILED and ambiguous:
        return Next.RENEW
    return AFTER[state]


def do(state: Run, step: Step, request: PublishRequest) -> Result | None:
    """Make the part's container (``Kind.CONTAIN``) or check it before the publish."""
    maker = state.provider
    assert isinstance(maker, MakesContainers)
    if step.kind is Kind.CONTAIN:
        return _make(state, step, maker, request)
    return _check(state, step, maker, request)


def _make(state: Run, step: Step, maker: MakesContainers, request: PublishRequest) -> Result | None:
    def parse(status: int, body: Any) -> Uploaded | None:
        found = maker.parse_container(status, body)
        return None if found is None else Uploaded(found, ready=False)

    call = maker.prepare_container(request)
    return media_steps.media_call(state, step, call, parse, record=True)


def _check(
    state: Run, step: Step, maker: MakesContainers, request: PublishRequest
) -> Result | None:
    for _ in range(INLINE_POLLS):
        contained = _status(state, step, maker)
        if isinstance(contained, Result):
            return contained
        then = after(contained.state, state.job.ambiguous)
        if then is not Next.WAIT:
            return _act(state, step, contained, then, request)
        time.sleep(POLL_WAIT)
    later = Plan(
        Action.RELEASE,
        reason=f"{step.label(len(state.parts))}: its container is still processing",
        next_run_at=state.deps.clock() + HAND_BACK,
        ambiguous=state.job.ambiguous,
    )
    return finish(state.deps, state.job, later, None)


def _status(state: Run, step: Step, maker: MakesContainers) -> Contained | Result:
    """The container's state, or the attempt's end (a failed call, a lost lease)."""
    container_id = state.done[step.key].external_id
    seen: list[Contained] = []

    def parse(status: int, body: Any) -> Uploaded | None:
        found = maker.parse_status(status, body)
        if found is None:
            return None
        seen.append(found)
        return Uploaded(container_id, ready=True)  # readable: acted on by the caller

    call = maker.prepare_status(state.job.base_url, state.cleared.token, container_id)
    got = media_steps.answer(state, step, call, parse)
    if isinstance(got, Result):
        return got
    media_steps.log_only(state, got)
    return seen[-1]


def _act(
    state: Run, step: Step, contained: Contained, then: Next, request: PublishRequest
) -> Result | None:
    job, deps = state.job, state.deps
    if then is Next.PUBLISH:  # the provider says this part is not out: publishing is safe
        state.late_publish = job.ambiguous  # ... unless our lost publish lands meanwhile
        state.job = replace(job, ambiguous=False)
        return confirm(state, step, None, replace(state.done[step.key], ready=True))
    if then is Next.FIND:
        return _find(state, step, request)
    if then is Next.RENEW:
        with deps.engine.begin() as connection:
            progress.forget(connection, job.post_id, step.key)
        state.done.pop(step.key, None)
        state.job = replace(job, ambiguous=False)  # nothing of this part was published
        why = f"{step.label(len(state.parts))}: its container is {contained.state}; a new one"
        renew = Plan(Action.RELEASE, reason=why, next_run_at=deps.clock() + RENEW_WAIT)
        return finish(deps, state.job, renew, None)
    why = f"the provider could not process its container: {contained.error or 'no reason'}"
    decided = plan.after_call(
        job, Outcome(Category.FORBIDDEN, why), deps.clock(), deps.retry_policy
    )
    return finish(deps, job, named(state, step, decided), None)


def _find(state: Run, step: Step, request: PublishRequest) -> Result | None:
    """The container is published: confirm the part with the post a lookup finds; a
    lookup that cannot tell waits like any ambiguous attempt (then ``unconfirmed``)."""
    job, deps, provider = state.job, state.deps, state.provider
    found = reconcile.look_up(provider, job, request, deps, state.get_json)
    if found.found is not None:
        return confirm(state, Step(Kind.CREATE, step.part), None, Confirmed.of(found.found))
    rules = reconcile.resend_rules(provider, deps)
    unknown = Reconciled(found=None, known=False)  # published, yet not seen: cannot tell
    waiting = plan.before_call(job, unknown, rules, deps.clock(), deps.retry_policy)
    assert waiting is not None  # an unknown lookup never says "call"
    return finish(deps, job, named(state, step, waiting), None)
