"""Every error the HTTP API can answer, as a JSON body naming the problem.

``PublisherError`` branches map to statuses here and only here; anything unexpected is
logged with its traceback and answered with a plain JSON 500 (never a stack trace).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from publisher.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    PublisherError,
)

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[PublisherError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (InvalidInput, 422, "invalid"),
    (Conflict, 409, "conflict"),
    # A call publisher makes for the caller (Bluesky's login at connect) met trouble at
    # the provider: nothing was stored; a rate limit says when to try again.
    (ProviderRateLimited, 429, "provider_rate_limited"),
    (ProviderUnavailable, 502, "provider_unavailable"),
)


def error_body(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status)


def _publisher_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PublisherError)
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            response = error_body(
                status,
                code,
                exc.message,
                field=exc.details.get("field"),
                state=exc.details.get("state"),
            )
            wait = exc.details.get("retry_after")
            if isinstance(wait, int | float):
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
    log.error("unmapped publisher error: %s", exc.message)
    return error_body(500, "internal", "internal error")


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": _field_name(tuple(e.get("loc", ()))), "problem": e.get("msg", "invalid")}
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"field": "body", "problem": "invalid"}
    return error_body(
        422,
        "invalid",
        f"{first['field']}: {first['problem']}",
        field=first["field"],
        problems=problems,
    )


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        exc.status_code, "http_error"
    )
    response = error_body(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error in the HTTP API", exc_info=exc)
    return error_body(500, "internal", "internal error; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(PublisherError, _publisher_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
