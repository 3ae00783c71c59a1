"""Enqueueing from outside the engine: the web process announces freshly approved posts.

A post approved to go out within the lookahead would otherwise wait for the next sweep
(up to one interval late); the announcer enqueues it at once with a countdown, marked as
the sweep would mark it, so it is neither late nor sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from publisher.core.settings import Settings
from publisher.engine import sweep
from publisher.engine.dependencies import Dependencies, Enqueue


def announcer(settings: Settings, enqueue: Enqueue) -> Callable[[int, datetime], None]:
    """A callback for the API: enqueue ``post_id`` now if it is due within the lookahead.

    The engine's dependencies (a database engine, an HTTP session) are built on the first
    announcement, not when the web process starts.
    """
    state: dict[str, Dependencies] = {}

    def announce(post_id: int, next_run_at: datetime) -> None:
        deps = state.get("deps")
        if deps is None:
            deps = state["deps"] = Dependencies.build(settings, enqueue)
        now = deps.clock()
        if (next_run_at - now).total_seconds() <= settings.lookahead:
            sweep.enqueue_now(deps, [(post_id, next_run_at)], now)

    return announce
