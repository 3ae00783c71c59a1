"""A part's files for a provider whose create request carries them (``CarriesFiles``:
Telegram, Discord): loaded just before the call that creates the part.

Nothing is uploaded ahead, so there is no upload step to confirm: the files are read
(blob store or URL, ``media_source``) within the lease's budget, checked against the
provider's ``MediaRule``, and handed to ``prepare`` in ``PublishRequest.files``. A file
that cannot be had ends the attempt before anything is sent: gone, too big or of a
refused type (or, once a URL's kind is known, a mix the network refuses) cancels the post
naming it; a media host or blob store that is down is retried later. Either way no
request left, so the attempt is never ambiguous.
"""

from __future__ import annotations

import time

from publisher.engine import plan
from publisher.engine.classify import Outcome
from publisher.engine.finish import Result, finish
from publisher.engine.step_run import Run, named
from publisher.engine.steps import Step
from publisher.providers.base import Category, MediaFile
from publisher.providers.media_rule import Kind


def load(state: Run, step: Step) -> list[MediaFile] | Result:
    """Every file of the step's part, in order, or the attempt's end (a file that cannot
    be had, or the lease lost)."""
    from publisher.engine import media_source  # the blob store's client, on first use

    job, deps = state.job, state.deps
    budget = state.lease.budget(deps, job)  # all the part's fetches share one budget
    if budget is None:
        return Result.LEASE_LOST
    deadline = time.monotonic() + budget
    files: list[MediaFile] = []
    for item in state.parts[step.part].media:
        loaded = media_source.load(item, deps, rule=state.provider.media_rule, deadline=deadline)
        if not isinstance(loaded, MediaFile):  # gone, too big, refused, or down
            decided = plan.after_call(job, loaded, deps.clock(), deps.retry_policy)
            return finish(deps, job, named(state, step, decided), None)
        files.append(loaded)
    refused = state.provider.media_rule.refusal([Kind(file.kind) for file in files])
    if refused is not None:  # a URL's file turned out of a kind that cannot join the rest
        why = Outcome(Category.FORBIDDEN, f"the media {refused}")
        decided = plan.after_call(job, why, deps.clock(), deps.retry_policy)
        return finish(deps, job, named(state, step, decided), None)
    return files
