"""Logging in to the dashboard with an API key, and out.

The key is posted once, compared in constant time with ``PUBLISHER_API_KEYS`` (full
access) and ``PUBLISHER_READONLY_API_KEYS`` (reads only), and never stored: the session
cookie names its fingerprint. The login form itself carries a token that must match a
cookie set with the form (double submit), so another site cannot log a browser in.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from publisher.web.access import Context, CsrfChecked
from publisher.web.render import LOGIN_PATH, page
from publisher.web.session import COOKIE, MAX_AGE, DashboardSession

router = APIRouter()

LOGIN_COOKIE = "publisher_login"  # the login form's double-submit token
HOME = "/dashboard"
LOGIN_FORM_AGE = 600  # s: long enough to find and paste a key, short for a stale form
# Clients the dashboard lets in without a key when none is configured (as the API does).
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    """HttpOnly, SameSite=Strict, and Secure whenever the page came over https."""
    secure = request.url.scheme == "https"
    response.set_cookie(
        name, value, max_age=age, path=HOME, secure=secure, httponly=True, samesite="strict"
    )


@router.get("/login")
def login_form(request: Request, ctx: Context) -> Response:
    if ctx.cookies.load(request.cookies.get(COOKIE)) is not None:
        return RedirectResponse(HOME, status_code=303)
    return _form(request, ctx, status=200, problem=None)


def _form(request: Request, ctx: Context, *, status: int, problem: str | None) -> Response:
    token = secrets.token_urlsafe(32)
    values = {"login_token": token, "problem": problem, "open": ctx.cookies.open_to_loopback}
    response = page(request, "login.html", values, status=status)
    _set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_FORM_AGE)
    return response


@router.post("/login")
def login(
    request: Request,
    ctx: Context,
    key: Annotated[str, Form(max_length=1000)] = "",
    login_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(login_token.encode(), expected.encode()):
        return _form(request, ctx, status=403, problem="The form expired: try again.")
    session = _session_for(request, ctx, key)
    if session is None:
        return _form(request, ctx, status=401, problem="Wrong key.")
    response = RedirectResponse(HOME, status_code=303)
    _set_cookie(request, response, COOKIE, ctx.cookies.dump(session), MAX_AGE)
    response.delete_cookie(LOGIN_COOKIE, path=HOME)
    return response


def _session_for(request: Request, ctx: Context, key: str) -> DashboardSession | None:
    if ctx.cookies.open_to_loopback:
        client = request.client.host if request.client else ""
        return ctx.cookies.loopback() if client in LOOPBACK else None
    return ctx.cookies.login(key)


@router.post("/logout")
def logout(request: Request, _session: CsrfChecked) -> Response:
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(COOKIE, path=HOME, httponly=True, samesite="strict")
    return response
