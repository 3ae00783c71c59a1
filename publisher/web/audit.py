"""The audit page: every action taken in the dashboard, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from publisher.core import service
from publisher.web.access import Context, Viewer
from publisher.web.render import page

router = APIRouter()

PAGE = 50  # rows a page: one screen of a laptop, a few of a phone


@router.get("/audit")
def audit(
    request: Request,
    session: Viewer,
    ctx: Context,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    with ctx.database() as db:
        rows = list(service.list_actions(db, before_id=before, limit=PAGE))
    older = rows[-1].id if len(rows) == PAGE else None
    return page(request, "audit.html", {"rows": rows, "older": older}, session=session)
