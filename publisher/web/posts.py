"""The posts list: filters that combine, the count of matches, keyset pages (newest
first, "older" carries the filter and the last id), and for a full key the bulk actions'
buttons (``web.bulk``: a selection, or everything matching)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from publisher.core.dashboard import post_search
from publisher.core.service.bulk import BulkAction
from publisher.errors import InvalidInput
from publisher.web import bulk, post_filter
from publisher.web.access import Context, Viewer
from publisher.web.post_filter import FILTER_FIELDS, Fields
from publisher.web.refusals import refused
from publisher.web.render import page

router = APIRouter()
router.include_router(bulk.router)

PAGE = post_search.PAGE_SIZE  # rows a page: a screen of a laptop, a few of a phone


@router.get("/posts")
def posts(request: Request, session: Viewer, ctx: Context) -> Response:
    try:
        fields = Fields.of(request.query_params.multi_items(), (*FILTER_FIELDS, "before"))
        found = post_filter.parse(fields)
        before = fields.number("before")
    except InvalidInput as exc:
        return refused(request, session, exc, post_filter.BACK)
    with ctx.database() as db:
        total = post_search.count(db, found)
        listed = post_search.page(db, found, before, PAGE, matches=total)
    pairs = post_filter.query(found)
    values = {
        "rows": listed.rows,
        "total": total,
        "older": listed.next_before,
        "paged": before is not None,
        "pairs": pairs,
        "query": urlencode(pairs),
        "form": dict(pair for pair in pairs if pair[0] != "state"),
        "states": found.states,
        "all_states": post_filter.STATES,
        "providers": post_filter.PROVIDER_NAMES,
        "actions": bulk.LABELS,
        "retry": BulkAction.RETRY_NOW.value,
        "cancel": BulkAction.CANCEL.value,
    }
    return page(request, "posts.html", values, session=session)
