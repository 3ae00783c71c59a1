"""The operator's dashboard, served by ``publisher web`` under ``/dashboard``.

Server-rendered Jinja2 pages over the same Python API (``core.service``) as the HTTP API,
with htmx for the live parts and uPlot for charts, both shipped in ``static/vendor`` (no
CDN, nothing fetched at run time). Access is by API key into a signed session cookie
(``session``), with a CSRF token on every POST (``access``); every action is recorded in
the audit log (``core.service.audit``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.settings import Settings
from publisher.web import audit, charts, credentials, login, overview, post_page, posts, render
from publisher.web.context import STATIC, TEMPLATES, WebContext
from publisher.web.session import Sessions

PREFIX = "/dashboard"


def mount(
    app: FastAPI,
    settings: Settings,
    database: sessionmaker[Session],
    clock: Callable[[], datetime],
    announce: Callable[[int, datetime | None], None],
) -> None:
    """Serve the dashboard from ``app`` under ``/dashboard`` (static files under
    ``/dashboard/static``), kept out of the API's OpenAPI schema; ``announce`` tells the
    engine about a post an action approved (the API's own)."""
    templates = Jinja2Templates(directory=TEMPLATES)
    cookies = Sessions(settings)
    app.state.dashboard = WebContext(database, cookies, templates, clock, settings, announce)
    parts = (login, overview, charts, posts, post_page, credentials, audit)
    for part in (module.router for module in parts):
        app.include_router(part, prefix=PREFIX, include_in_schema=False)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="dashboard-static")
    render.install(app)
