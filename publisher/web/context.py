"""What every dashboard route needs, built once per app and passed explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.settings import Settings
from publisher.web.session import Sessions

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@dataclass(frozen=True)
class WebContext:
    database: sessionmaker[Session]
    cookies: Sessions
    templates: Jinja2Templates
    clock: Callable[[], datetime]
    settings: Settings
    # The HTTP API's ``announce``: an approved post due soon is enqueued at once (best
    # effort; the sweep is the safety net), the same after an action here as after the API.
    announce: Callable[[int, datetime | None], None]


def web_context(request: Request) -> WebContext:
    found: WebContext = request.app.state.dashboard
    return found
