"""Pages as responses: templates rendered with the headers every dashboard page carries,
and the dashboard's refusals (not logged in, forbidden) as pages, or JSON for htmx.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from publisher.errors import AccessDenied, NotLoggedIn
from publisher.web.access import CSRF_HEADER
from publisher.web.context import web_context
from publisher.web.session import DashboardSession

LOGIN_PATH = "/dashboard/login"

# Everything from this origin only: no inline script or style, no framing (clickjacking),
# no referrer leaking a post's id to a linked site.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def page(
    request: Request,
    template: str,
    values: dict[str, Any],
    *,
    session: DashboardSession | None = None,
    status: int = 200,
) -> Response:
    """``template`` rendered with ``values``, the session's CSRF token and headers."""
    context = {"session": session, "csrf_header": CSRF_HEADER, **values}
    templates = web_context(request).templates
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _not_logged_in(request: Request, _exc: Exception) -> Response:
    if is_htmx(request):  # htmx follows HX-Redirect with a full page load
        return Response(status_code=401, headers={"HX-Redirect": LOGIN_PATH})
    return RedirectResponse(LOGIN_PATH, status_code=303)


def _denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AccessDenied)
    if is_htmx(request):
        return JSONResponse({"error": "forbidden", "message": exc.message}, status_code=403)
    return page(request, "error.html", {"message": exc.message}, status=403)


def install(app: FastAPI) -> None:
    """Answer the dashboard's refusals (more specific than the API's PublisherError)."""
    app.add_exception_handler(NotLoggedIn, _not_logged_in)
    app.add_exception_handler(AccessDenied, _denied)
