"""The dashboard's refusals, one way for every page: an unknown row (404), an action the
current state no longer allows (409), bad input (422, naming the field), each a page that
says what is wrong and where to go back to, or JSON for htmx; never a 500. The statuses
are the HTTP API's for the same errors (``api/errors.py``).
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from publisher.core.models import MAX_ID
from publisher.errors import Conflict, InvalidInput, NotFound, PublisherError
from publisher.web.render import is_htmx, page
from publisher.web.session import DashboardSession

SHOWN = 40  # characters of a refused value repeated in the message

# (kind, status, code, page title); the first that matches answers.
PROBLEMS: tuple[tuple[type[PublisherError], int, str, str], ...] = (
    (NotFound, 404, "not_found", "Not found"),
    (Conflict, 409, "conflict", "Not possible now"),
    (InvalidInput, 422, "invalid", "Bad input"),
)
OTHER = (422, "invalid", "Bad input")


def shown(raw: str) -> str:
    """A refused value as the message repeats it: quoted, and cut if long."""
    return repr(raw if len(raw) <= SHOWN else raw[:SHOWN] + "…")


def row_id(raw: str, field: str) -> int:
    """``raw`` (a path or query value) as a row id; ``InvalidInput`` naming ``field`` if it
    cannot be one (``str.isdigit`` accepts "²", which ``int`` refuses: ASCII only)."""
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise InvalidInput(field, f"{shown(raw)} is not an id (a whole number from 1)")
    return int(raw)


def refused(
    request: Request,
    session: DashboardSession,
    exc: PublisherError,
    back: tuple[str, str] = ("/dashboard", "the overview"),
) -> Response:
    """The answer to ``exc``: its page (with a link ``back``: href, label), or JSON."""
    status, code, title = next(
        ((s, c, t) for kind, s, c, t in PROBLEMS if isinstance(exc, kind)), OTHER
    )
    field = exc.field if isinstance(exc, InvalidInput) else None
    if is_htmx(request):
        body = {"error": code, "message": exc.message} | ({"field": field} if field else {})
        return JSONResponse(body, status_code=status)
    values = {"title": title, "message": exc.message, "field": field, "back": back}
    return page(request, "error.html", values, session=session, status=status)
