"""The overview: is publishing healthy? Unfinished posts by state (refreshed by htmx every
few seconds) and every kill switch that is on, with who set it and when; the global kill
switch's pause and resume, each recorded in the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from publisher.core import control, service
from publisher.web.access import Actor, Context, Viewer
from publisher.web.render import page

router = APIRouter()

# How often (s) the counts refresh: fresh enough to watch a backlog drain, one cheap
# indexed query per open page.
REFRESH_SECONDS = 5


@router.get("")
def overview(request: Request, session: Viewer, ctx: Context) -> Response:
    with ctx.database() as db:
        values = {
            "counts": service.unfinished_counts(db),
            "switches": service.switches_on(db),
            "paused": control.is_paused(db),
            "refresh_seconds": REFRESH_SECONDS,
        }
    return page(request, "overview.html", values, session=session)


@router.get("/fragments/counts")
def counts(request: Request, session: Viewer, ctx: Context) -> Response:
    with ctx.database() as db:
        values = {"counts": service.unfinished_counts(db), "refresh_seconds": REFRESH_SECONDS}
    return page(request, "_counts.html", values, session=session)


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
