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
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from publisher.core import service
from publisher.core.dashboard import post_parts, post_summary, timeline
from publisher.core.dashboard.post_actions import PostAction, allowed_actions
from publisher.core.models import Post
from publisher.core.states import DUE_STATES
from publisher.errors import Conflict, InvalidInput, NotFound
from publisher.web import post_view
from publisher.web.access import Actor, Context, Viewer
from publisher.web.refusals import refused, row_id
from publisher.web.render import page

router = APIRouter()

PATH = "/dashboard/posts/{}"
BACK = ("/dashboard/posts", "the posts")  # where a refusal's page leads
# States a post leaves by itself (the engine moves it): its page keeps itself up to date.
MOVING = frozenset({"approved", "running", "retry"})
# States the sweep picks up: an action that leaves a post in one is announced at once.
DUE = frozenset(state.value for state in DUE_STATES)
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


def action_of(raw: str) -> PostAction:
    """The action in a path; ``NotFound`` naming it if there is no such action."""
    if raw not in PostAction.__members__.values():
        names = ", ".join(a.value for a in PostAction)
        raise NotFound(f"no action {raw[:40]!r} on a post (there are: {names})")
    return PostAction(raw)


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
        number = row_id(post_id, "post")
        with ctx.database() as db:  # rendered inside: the rows are read while loaded
            values = _values(db, number)
            if seen is not None and seen == values["fingerprint"]:
                return Response(status_code=204)  # nothing changed: htmx swaps nothing
            values["message"] = DONE.get(did or "")
            return page(request, "post.html", values, session=session)
    except (NotFound, InvalidInput) as exc:
        return refused(request, session, exc, BACK)


@router.post("/posts/{post_id}/actions/{action}")
def act(request: Request, session: Actor, ctx: Context, post_id: str, action: str) -> Response:
    """The action, then back to the post's page saying what was done; refused with a page
    (nothing written, nothing audited) when the post's state no longer allows it."""
    try:
        number, chosen = row_id(post_id, "post"), action_of(action)
        now = ctx.clock()
        with ctx.database.begin() as db:  # the action and its audit row: one transaction
            moved = ACTIONS[chosen](db, number, now)
            due = moved.next_run_at if moved.state in DUE else None
            detail = {"post": number}
            service.record_action(db, session.who, chosen.value, now, posts=1, detail=detail)
    except (NotFound, InvalidInput, Conflict) as exc:
        return refused(request, session, exc, BACK)
    if due is not None:  # after the commit, as the API announces an approval
        ctx.announce(number, due)
    return RedirectResponse(PATH.format(number) + f"?did={chosen.value}", status_code=303)
