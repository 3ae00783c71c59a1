"""Charts over a chosen window (uPlot): the page, and the JSON its script fetches and
fetches again every few seconds (``core.dashboard.charts`` shaped by ``chart_series``).

A window the page does not offer is refused with 422 naming the ``window`` parameter, as
every bad input is (``refusals``): the page says so above its window menu, the JSON
answer names it in its body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from publisher.errors import InvalidInput
from publisher.web import chart_series, chart_windows
from publisher.web.access import Context, Viewer
from publisher.web.render import SECURITY_HEADERS, page

router = APIRouter()

# How often (ms) the page fetches its data again: a new publish shows within seconds,
# and five chart queries per open page every 10 s cost little (each an indexed range).
REFRESH_MS = 10_000
# Each chart's id in the page, title and what it counts, for the page's skeleton (the
# script fills them from the JSON).
CHARTS = (
    ("outcomes", "Provider calls by outcome"),
    ("providers", "Provider calls by provider"),
    ("lateness", "Lateness (scheduled to published), seconds"),
    ("durations", "Provider call duration, ms"),
    ("retries", "Retries and give-ups"),
)

WindowName = Annotated[str | None, Query(alias="window", max_length=40)]


@router.get("/charts")
def charts_page(request: Request, session: Viewer, name: WindowName = None) -> Response:
    values = {"choices": chart_windows.CHOICES, "charts": CHARTS, "refresh_ms": REFRESH_MS}
    try:
        choice = chart_windows.choose(name)
    except InvalidInput as refused:
        problem = {"problem": refused.message, "chosen": chart_windows.DEFAULT}
        return page(request, "charts.html", values | problem, session=session, status=422)
    return page(request, "charts.html", values | {"chosen": choice}, session=session)


@router.get("/charts/data")
def charts_data(session: Viewer, ctx: Context, name: WindowName = None) -> Response:
    """Every chart's series over the window, for the page's script (and nothing else:
    a viewer's session is required, as for the page)."""
    try:
        choice = chart_windows.choose(name)
    except InvalidInput as refused:
        body = {"error": "invalid", "field": refused.field, "message": refused.message}
        return JSONResponse(body, status_code=422, headers=SECURITY_HEADERS)
    window = choice.window(ctx.clock())
    with ctx.database() as db:
        found = chart_series.read(db, window)
    body = chart_series.as_json(choice.name, window, found)
    return JSONResponse(body, headers=SECURITY_HEADERS)
