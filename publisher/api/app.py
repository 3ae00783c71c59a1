"""The HTTP API for the main app: a thin FastAPI layer over ``publisher.service``.

Each route opens one transaction, calls the service, and converts rows to response
bodies inside it; errors become JSON bodies in ``api.errors``. Bearer keys come from
``PUBLISHER_API_KEYS``; with none configured, only loopback clients are served.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from publisher.api import errors, groups, media, routes
from publisher.api.context import Context
from publisher.api.limits import BodyLimit
from publisher.core import db, redact
from publisher.core.models import utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.engine.telemetry import metrics
from publisher.web import mount as mount_dashboard

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


_bearer = HTTPBearer(auto_error=False)


def _authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    keys: tuple[str, ...] = request.app.state.context.settings.api_keys
    if not keys:
        client = request.client.host if request.client else ""
        if client in LOOPBACK:
            return
        raise HTTPException(401, "no API keys are configured: set PUBLISHER_API_KEYS")
    given = credentials.credentials.encode() if credentials else b""
    # Compare against every key, in constant time, so timing tells nothing.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, key.encode())
    if not ok:
        raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})


def create_app(
    settings: Settings,
    *,
    sessions: sessionmaker[Session] | None = None,
    clock: Callable[[], datetime] = utcnow,
    on_approved: Callable[[int, datetime], None] | None = None,
) -> FastAPI:
    if sessions is None:
        sessions = db.make_sessionmaker(db.make_engine(settings.database_url))
    app = FastAPI(
        title="publisher",
        version="0.1.0",
        description="Publishes approved posts to third-party APIs, on time and exactly once.",
    )
    app.state.context = Context(settings, sessions, token_box(settings), clock, on_approved)
    redact.install_log_filter()  # a token in a request is scrubbed from what its route logs
    errors.install(app)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, per_path=media.upload_bound(settings)
    )

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        with sessions() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/metrics", tags=["operations"], dependencies=[Depends(_authorize)])
    def prometheus() -> Response:
        body, content_type = metrics.render(sessions)
        return Response(body, media_type=content_type)

    app.include_router(routes.router, dependencies=[Depends(_authorize)])
    app.include_router(groups.router, dependencies=[Depends(_authorize)])
    app.include_router(media.router, dependencies=[Depends(_authorize)])
    # Its own login (/dashboard/login); what it approves is announced as the API's is.
    mount_dashboard(app, settings, sessions, clock, app.state.context.announce)
    return app
