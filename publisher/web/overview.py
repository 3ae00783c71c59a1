"""The overview: is publishing healthy? The last sweep and beat's verdict, the watchdog's
verdict, every kill switch in force (who set it, when), the queue depth, the workers
seen, the oldest due post, posts by state and posts late now, refreshed by htmx every few
seconds (``core.dashboard.health``); and the global kill switch's pause and resume, each
recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from publisher.core import control, service
from publisher.core.dashboard import health
from publisher.core.dashboard.post_search import PostFilter
from publisher.core.states import DUE_STATES, State
from publisher.web import post_filter
from publisher.web.access import Actor, Context, Viewer
from publisher.web.context import WebContext
from publisher.web.render import page

router = APIRouter()

# How often (s) the health refreshes: fresh enough to watch a backlog drain, a few cheap
# indexed queries per open page.
REFRESH_SECONDS = 5


def posts_link(states: tuple[State, ...]) -> str:
    """The posts list filtered to ``states``."""
    return post_filter.link(PostFilter(states=frozenset(s.value for s in states)))


def _values(ctx: WebContext) -> dict[str, Any]:
    probes = ctx.probes
    with ctx.database() as db:
        found = health.health(db, watchdog=probes.watchdog(), broker=probes.broker)
        paused = control.is_paused(db)
    return {
        "health": found,
        "beat": health.beat_verdict(found, probes.beat_limit),
        "counts": [(s.value, found.counts.get(s.value, 0), posts_link((s,))) for s in State],
        "late_link": posts_link(DUE_STATES),
        "late_after": int(health.LATE_AFTER.total_seconds()),
        "paused": paused,
        "refresh_seconds": REFRESH_SECONDS,
    }


@router.get("")
def overview(request: Request, session: Viewer, ctx: Context) -> Response:
    return page(request, "overview.html", _values(ctx), session=session)


@router.get("/fragments/health")
def live(request: Request, session: Viewer, ctx: Context) -> Response:
    """The overview's live part, for htmx's refresh."""
    return page(request, "_health.html", _values(ctx), session=session)


@router.post("/actions/pause")
def pause(session: Actor, ctx: Context) -> Response:
    """The global kill switch: nothing is enqueued or published until resumed."""
    return _switch(session.who, ctx, paused=True)


@router.post("/actions/resume")
def resume(session: Actor, ctx: Context) -> Response:
    return _switch(session.who, ctx, paused=False)


def _switch(who: str, ctx: Context, *, paused: bool) -> Response:
    now = ctx.clock()
    with ctx.database.begin() as db:  # the switch and its audit row: one transaction
        if paused:
            control.set_paused(db, True, now, by=who)
        else:
            control.resume(db, now, by=who)
        service.record_action(db, who, "pause" if paused else "resume", now)
    return RedirectResponse("/dashboard", status_code=303)
