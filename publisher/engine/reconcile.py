"""Reconciliation: after an attempt that may have landed, find our post at the provider.

The provider lists its candidates (posts with our text since our first attempt); the
first one that no other post of ours already owns is ours. Every GET goes through the
worker's ``fetch`` (lease renewed, deadline, size bound); the lookup is written to the
call log. The decision on what follows is ``plan.before_call``'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from publisher.core.db import transaction
from publisher.core.models import Post, PostStep
from publisher.engine import call_log
from publisher.engine.classify import Outcome
from publisher.engine.dependencies import Dependencies
from publisher.engine.lock import Job
from publisher.engine.plan import Reconciled, ResendRules
from publisher.errors import LookupFailed
from publisher.providers.base import Category, GetJson, Provider, Published, PublishRequest

log = logging.getLogger(__name__)


def resend_rules(provider: Provider, deps: Dependencies) -> ResendRules:
    """What makes calling ``provider`` again safe after an ambiguous attempt."""
    timeout = timedelta(seconds=deps.settings.reconcile_timeout)
    return ResendRules(provider.idempotency_window, provider.can_lookup, timeout)


def named_duplicate(
    provider: Provider,
    job: Job,
    request: PublishRequest,
    deps: Dependencies,
    get_json: GetJson,
    outcome: Outcome,
) -> Outcome:
    """A duplicate refusal after an ambiguous attempt that names no post, with the post a
    lookup finds (ours: the earlier attempt landed); any other outcome as it came."""
    if outcome.category is not Category.DUPLICATE or not job.ambiguous:
        return outcome
    if outcome.published is not None:
        return outcome
    found = look_up(provider, job, request, deps, get_json)
    return Outcome(Category.DUPLICATE, outcome.message, published=found.found)


def look_up(
    provider: Provider,
    job: Job,
    request: PublishRequest,
    deps: Dependencies,
    get_json: GetJson,
) -> Reconciled:
    """Ask the provider whether an earlier attempt of ``job`` created the post."""
    if not provider.can_lookup:
        return Reconciled(found=None, known=False)
    since = job.first_started_at or deps.clock()
    started, clock = deps.clock(), time.perf_counter()
    error: str | None = None
    found: Published | None = None
    try:
        found = _ours(deps, job, provider.lookup(get_json, request, since))
    except LookupFailed as exc:
        error = exc.message
        log.info("post %s: lookup failed: %s", job.post_id, error)
    duration = (time.perf_counter() - clock) * 1000
    outcome = None if error else found is not None
    call_log.lookup(deps.sessions, job, outcome, error, duration, started, deps.clock())
    return Reconciled(found=found, known=error is None)


def _ours(deps: Dependencies, job: Job, candidates: Sequence[Published]) -> Published | None:
    """The oldest candidate that no other post of this credential owns, nor another part
    of a thread (this post's included: two parts may have the same text)."""
    if not candidates:
        return None
    ids = [candidate.external_id for candidate in candidates]
    with transaction(deps.sessions) as session:
        taken = set(
            session.scalars(
                select(Post.external_id).where(
                    Post.credential_id == job.credential_id,
                    Post.external_id.in_(ids),
                    Post.id != job.post_id,
                )
            )
        )
        taken |= set(
            session.scalars(
                select(PostStep.external_id)
                .join(Post, Post.id == PostStep.post_id)
                .where(Post.credential_id == job.credential_id, PostStep.external_id.in_(ids))
            )
        )
    return next((c for c in candidates if c.external_id not in taken), None)
