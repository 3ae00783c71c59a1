"""A multi-step publish's confirmed steps in the database (``post_steps``).

A step's confirmation is written the moment the provider confirms it, together with its
call-log row, before the next step starts: whatever happens after (a crash, a lost lease,
a failure of a later step) the next attempt knows the step is done and skips it. It is
written even when the lease was lost meanwhile: it is a fact about the provider, and the
unique (post, key) pair keeps a second writer from recording a second answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from publisher.core.db import Executor, is_postgresql
from publisher.core.models import POST_STEPS
from publisher.engine.lock import Job
from publisher.engine.steps import Confirmed

_LOAD = select(
    POST_STEPS.c.key, POST_STEPS.c.external_id, POST_STEPS.c.external_url, POST_STEPS.c.ready
).where(POST_STEPS.c.post_id == bindparam("post_id"))
_READY = (
    update(POST_STEPS)
    # Not "post_id": an UPDATE reserves its columns' names for its own parameters.
    .where(POST_STEPS.c.post_id == bindparam("b_post_id"), POST_STEPS.c.key == bindparam("step"))
    .values(ready=True)
)
_FORGET = delete(POST_STEPS).where(
    POST_STEPS.c.post_id == bindparam("b_post_id"), POST_STEPS.c.key == bindparam("step")
)


def load(executor: Executor, post_id: int) -> dict[str, Confirmed]:
    """Every confirmed step of the post, by key."""
    rows = executor.execute(_LOAD, {"post_id": post_id})
    return {row.key: Confirmed(row.external_id, row.external_url, row.ready) for row in rows}


def record(executor: Executor, job: Job, key: str, confirmed: Confirmed, now: datetime) -> None:
    """Store ``key``'s confirmation; a second one for the same key is ignored (the first
    answer stands)."""
    values = {
        "post_id": job.post_id,
        "key": key,
        "external_id": confirmed.external_id,
        "external_url": confirmed.external_url,
        "ready": confirmed.ready,
        "attempt": job.attempt,
        "at": now,
    }
    insert = postgresql.insert if is_postgresql(executor) else sqlite.insert
    executor.execute(insert(POST_STEPS).values(values).on_conflict_do_nothing())


def mark_ready(executor: Executor, post_id: int, key: str) -> None:
    """The provider finished processing the upload stored under ``key``."""
    executor.execute(_READY, {"b_post_id": post_id, "step": key})


def forget(executor: Executor, post_id: int, key: str) -> None:
    """Drop ``key``'s confirmation: what it names is dead at the provider and published
    nothing (an expired or failed container), so the step is to be done again."""
    executor.execute(_FORGET, {"b_post_id": post_id, "step": key})
