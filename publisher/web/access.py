"""Who may see and do what in the dashboard, checked before every route runs.

Every page but the login needs a session (``viewer``); every POST needs the session's
CSRF token, as a form field or an htmx header (``csrf_checked``); an action needs, on top,
a session that is not read-only (``actor``). A refusal is an ``AccessDenied`` (403) or a
``NotLoggedIn`` (to the login page), answered in ``pages.install``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from publisher.errors import AccessDenied, NotLoggedIn
from publisher.web.context import WebContext, web_context
from publisher.web.session import COOKIE, DashboardSession

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


def viewer(request: Request, ctx: Annotated[WebContext, Depends(web_context)]) -> DashboardSession:
    """The request's session; ``NotLoggedIn`` without a valid one."""
    session = ctx.cookies.load(request.cookies.get(COOKIE))
    if session is None:
        raise NotLoggedIn()
    return session


async def csrf_checked(
    request: Request, session: Annotated[DashboardSession, Depends(viewer)]
) -> DashboardSession:
    """The session, once the POST carried its CSRF token (header or form field)."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else ""
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise AccessDenied("the form's CSRF token is missing or wrong: reload the page")
    return session


def actor(session: Annotated[DashboardSession, Depends(csrf_checked)]) -> DashboardSession:
    """The session, if it may act (not read-only) and the POST carried its CSRF token."""
    if session.readonly:
        raise AccessDenied("this session is read-only: log in with a full key to act")
    return session


Viewer = Annotated[DashboardSession, Depends(viewer)]
CsrfChecked = Annotated[DashboardSession, Depends(csrf_checked)]
Actor = Annotated[DashboardSession, Depends(actor)]
Context = Annotated[WebContext, Depends(web_context)]
