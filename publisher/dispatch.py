"""Enqueueing from outside the engine: the web process announces freshly approved posts.

A post approved to go out within the lookahead would otherwise wait for the next sweep
(up to one interval late); the announcer enqueues it at once with a countdown, marked as
the sweep would mark it, so it is neither late nor sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from publisher.runtime import Runtime
from publisher.settings import Settings


def announcer(settings: Settings) -> Callable[[int, datetime], None]:
    state: dict[str, Runtime] = {}

    def announce(post_id: int, next_run_at: datetime) -> None:
        from publisher import sweep, tasks

        rt = state.get("rt")
        if rt is None:
            rt = state["rt"] = Runtime.build(settings, tasks.enqueue)
        now = rt.clock()
        if (next_run_at - now).total_seconds() <= settings.lookahead:
            sweep.enqueue_now(rt, [(post_id, next_run_at)], now)

    return announce
