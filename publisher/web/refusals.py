"""A dashboard page's refusals as pages: an unknown or malformed id (404), an action the
current state does not allow (409), bad input (422), each naming the problem; never a 500.
"""

from __future__ import annotations

from fastapi import Request, Response

from publisher.errors import Conflict, NotFound, PublisherError
from publisher.web.render import page
from publisher.web.session import DashboardSession

MAX_ID = 2**63 - 1  # the ids' column (BIGINT)


def object_id(value: str, what: str) -> int:
    """``value`` as a row id, or ``NotFound`` naming it (a malformed id names no row)."""
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise NotFound(f"{what} {value!r} not found: ids are whole numbers from 1")
    return int(value)


def refused(request: Request, session: DashboardSession, exc: PublisherError) -> Response:
    """The page for a refusal: 404 for an unknown id, 409 for a conflict, else 422."""
    if isinstance(exc, NotFound):
        title, status = "Not found", 404
    elif isinstance(exc, Conflict):
        title, status = "Not possible now", 409
    else:
        title, status = "Bad input", 422
    values = {"title": title, "message": exc.message}
    return page(request, "error.html", values, session=session, status=status)
