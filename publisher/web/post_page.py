"""One post's page: where it stands, its timeline (events and calls interleaved, each call
with its redacted request and response), its parts and media, its notifications, and the
actions its state allows (retry now, cancel, reopen).

Every action is one call into ``core.service`` and its audit row, in one transaction; a
state that changed since the page was drawn answers 409, an unknown post 404, an id that
is not one 422, each a page naming the problem (JSON for htmx). While the post is still
moving, the page asks again every few seconds with the fingerprint of what it shows, and
is answered 204 (nothing to swap) until something changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session

from publisher.core import service
from publisher.core.dashboard import post_parts, post_summary, timeline
from publisher.core.dashboard.post_actions import PostAction, allowed_actions
from publisher.core.models import Post
from publisher.errors import Conflict, InvalidInput, NotFound, PublisherError
from publisher.web import post_view
from publisher.web.access import Actor, Context, Viewer
from publisher.web.render import is_htmx, page
from publisher.web.session import DashboardSession

router = APIRouter()

PATH = "/dashboard/posts/{}"
MAX_ID = 2**63 - 1  # BIGINT's largest: a larger number names no post and overflows a query
# States a post leaves by itself (the engine moves it): its page keeps itself up to date.
MOVING = frozenset({"approved", "running", "retry"})
# How often (s) a moving post's page asks whether anything changed: a publish shows within
# seconds, and an unchanged post costs one indexed read and a 204.
LIVE_SECONDS = 3

ACTIONS: Mapping[PostAction, Callable[[Session, int, datetime], Post]] = {
    PostAction.RETRY_NOW: service.retry_now,
    PostAction.CANCEL: service.cancel,
    PostAction.REOPEN: service.reopen,
}
LABELS: Mapping[PostAction, str] = {
    PostAction.RETRY_NOW: "Retry now",
    PostAction.CANCEL: "Cancel",
    PostAction.REOPEN: "Reopen",
}
# What the page says after an action (the redirect names the action, never a free text).
DONE: Mapping[str, str] = {
    PostAction.RETRY_NOW: "Retry now: the post is due now.",
    PostAction.CANCEL: "Cancelled: the post will not be published.",
    PostAction.REOPEN: "Reopened: the post is a draft again.",
}
# The refusals a post's routes answer, as (status, code, page title).
PROBLEMS: tuple[tuple[type[PublisherError], int, str, str], ...] = (
    (NotFound, 404, "not_found", "Not found"),
    (InvalidInput, 422, "invalid", "Not a post"),
    (Conflict, 409, "conflict", "Not done"),
)


def post_id_of(raw: str) -> int:
    """The post id in a path; ``InvalidInput`` naming it if it cannot be one."""
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise InvalidInput("id", f"{shown!r} is not a post id (a whole number from 1)")
    return int(raw)


def action_of(raw: str) -> PostAction:
    """The action in a path; ``NotFound`` naming it if there is no such action."""
    if raw not in PostAction.__members__.values():
        names = ", ".join(a.value for a in PostAction)
        raise NotFound(f"no action {raw[:40]!r} on a post (there are: {names})")
    return PostAction(raw)


def _problem(request: Request, session: DashboardSession, exc: PublisherError) -> Response:
    status, code, title = next((s, c, t) for kind, s, c, t in PROBLEMS if isinstance(exc, kind))
    if is_htmx(request):
        return JSONResponse({"error": code, "message": exc.message}, status_code=status)
    values = {"title": title, "message": exc.message}
    return page(request, "post_problem.html", values, session=session, status=status)


def _values(db: Session, post_id: int) -> dict[str, Any]:
    summary = post_summary.summary(db, post_id)
    found = timeline.timeline(db, post_id)
    return {
        "post": summary,
        "entries": post_view.entries(found),
        "parts": post_parts.parts(found, summary.text, summary.external_id, summary.external_url),
        "notifications": found.notifications,
        "actions": allowed_actions(summary.state),
        "labels": LABELS,
        "live": summary.state in MOVING,
        "live_seconds": LIVE_SECONDS,
        "fingerprint": post_view.fingerprint(found),
        "when": post_view.when,
    }


@router.get("/posts/{post_id}")
def post_page(
    request: Request,
    session: Viewer,
    ctx: Context,
    post_id: str,
    did: str | None = None,
    seen: str | None = None,
) -> Response:
    try:
        number = post_id_of(post_id)
        with ctx.database() as db:  # rendered inside: the rows are read while loaded
            values = _values(db, number)
            if seen is not None and seen == values["fingerprint"]:
                return Response(status_code=204)  # nothing changed: htmx swaps nothing
            values["message"] = DONE.get(did or "")
            return page(request, "post.html", values, session=session)
    except (NotFound, InvalidInput) as exc:
        return _problem(request, session, exc)


@router.post("/posts/{post_id}/actions/{action}")
def act(request: Request, session: Actor, ctx: Context, post_id: str, action: str) -> Response:
    """The action, then back to the post's page saying what was done; refused with a page
    (nothing written, nothing audited) when the post's state no longer allows it."""
    try:
        number, chosen = post_id_of(post_id), action_of(action)
        now = ctx.clock()
        with ctx.database.begin() as db:  # the action and its audit row: one transaction
            ACTIONS[chosen](db, number, now)
            detail = {"post": number}
            service.record_action(db, session.who, chosen.value, now, posts=1, detail=detail)
    except (NotFound, InvalidInput, Conflict) as exc:
        return _problem(request, session, exc)
    return RedirectResponse(PATH.format(number) + f"?did={chosen.value}", status_code=303)
