"""Bulk actions from the posts list: a confirmation that says how many posts the action
will touch and repeats the filter (``GET /dashboard/bulk/confirm``), the action itself
(``POST /dashboard/bulk/apply``: full keys only, CSRF checked, through
``core.service.bulk``), and its result read back from its audit row
(``GET /dashboard/bulk/result/{id}``, so a reload never repeats the action).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from publisher.core.dashboard.post_search import PostFilter
from publisher.core.service import bulk
from publisher.core.service.bulk import BulkAction, Matching, Selection, Target
from publisher.errors import AccessDenied, InvalidInput, NotFound
from publisher.web import post_filter
from publisher.web.access import CSRF_FIELD, Actor, Context, Viewer
from publisher.web.post_filter import FILTER_FIELDS, Fields
from publisher.web.refusals import refused, row_id
from publisher.web.render import page

router = APIRouter(prefix="/bulk")

LABELS: Mapping[str, str] = {
    BulkAction.RETRY_NOW.value: "Retry now / re-approve",
    BulkAction.CANCEL.value: "Cancel",
}
SELECTION, MATCHING = "selection", "matching"
CHOICES = tuple(f"{action}:{scope}" for action in BulkAction for scope in (SELECTION, MATCHING))


def _read(fields: Fields) -> tuple[BulkAction, Target, PostFilter]:
    """The action, what it is on, and the list's filter (for a selection: to go back)."""
    chosen = fields.choice("do", CHOICES)
    if chosen is None:
        raise InvalidInput("do", "choose an action")
    action, scope = chosen.split(":")
    found = post_filter.parse(fields)
    if scope == SELECTION:
        return BulkAction(action), Selection(fields.numbers("id")), found
    return BulkAction(action), Matching(found, fields.number("upto")), found


@router.get("/confirm")
def confirm(request: Request, session: Viewer, ctx: Context) -> Response:
    """How many posts the action will touch, the filter again, and the button that acts."""
    if session.readonly:
        raise AccessDenied("this session is read-only: log in with a full key to act")
    try:
        accepted = (*FILTER_FIELDS, "do", "id")
        action, target, found = _read(Fields.of(request.query_params.multi_items(), accepted))
    except InvalidInput as exc:
        return refused(request, session, exc, post_filter.BACK)
    with ctx.database() as db:
        seen = bulk.preview(db, action, target)
    scope = SELECTION if isinstance(target, Selection) else MATCHING
    values = {
        "label": LABELS[action.value],
        "do": f"{action.value}:{scope}",
        "scope": scope,
        "seen": seen,
        "applies_to": sorted(bulk.applies_to(action)),
        "pairs": post_filter.query(found),
        "ids": target.ids if isinstance(target, Selection) else (),
        "back": post_filter.link(found),
    }
    return page(request, "bulk_confirm.html", values, session=session)


@router.post("/apply")
async def apply(request: Request, session: Actor, ctx: Context) -> Response:
    """Acts (in batches, off the event loop), then shows the result page."""
    form = await request.form()
    try:
        accepted = (*FILTER_FIELDS, "do", "id", "upto", CSRF_FIELD)
        action, target, found = _read(Fields.of(form.multi_items(), accepted))
    except InvalidInput as exc:
        return refused(request, session, exc, post_filter.BACK)
    done = await run_in_threadpool(
        bulk.apply, ctx.database, session.who, action, ctx.clock(), target
    )
    where = post_filter.link(found, f"/dashboard/bulk/result/{done.audit_id}")
    return RedirectResponse(where, status_code=303)


@router.get("/result/{audit_id}")
def result(
    request: Request,
    audit_id: str,
    session: Viewer,
    ctx: Context,
) -> Response:
    try:
        number = row_id(audit_id, "result")
        found = post_filter.parse(Fields.of(request.query_params.multi_items(), FILTER_FIELDS))
    except InvalidInput as exc:
        return refused(request, session, exc, post_filter.BACK)
    try:
        with ctx.database() as db:
            outcome = bulk.recorded(db, number)
    except NotFound as exc:
        return refused(request, session, exc, post_filter.BACK)
    values = {"outcome": outcome, "label": LABELS[outcome.action], "back": post_filter.link(found)}
    return page(request, "bulk_result.html", values, session=session)
