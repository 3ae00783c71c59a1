"""Refreshing a Threads long-lived token: ``GET /refresh_access_token`` as a ``Refresher``.

A long-lived Threads user token lasts 60 days; while it is valid (and at least 24 hours
old) ``GET https://graph.threads.net/refresh_access_token?grant_type=th_refresh_token&
access_token=<token>`` answers ``{"access_token", "token_type": "bearer", "expires_in"}``,
a new long-lived token (https://developers.facebook.com/docs/threads/get-started/
long-lived-tokens; that URL is the default in ``oauth2.DEFAULT_TOKEN_URLS``). The token
refreshes itself: there is no separate refresh token. So a Threads credential keeps that
token as its token *and* as its refresh token (the main app sends it in both fields, with
``expires_in``), and a refresh stores the new token in both; the engine's refresh path
(ahead of expiry, one at a time, a 401 refreshes once) serves it unchanged. Meta puts
the token in the query string; the engine's redactor scrubs it from every error it
records.

Errors are Graph's: 190 (the token expired or was revoked) and the permission codes
refuse the grant for good (re-authorize); anything else, 5xx and no answer are transient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from publisher.providers.base import PreparedCall
from publisher.providers.facebook import PERMISSION, error_codes
from publisher.providers.oauth2 import (
    Grant,
    Refreshed,
    Rejected,
    Result,
    Transient,
    describe_error,
    visible_ascii,
)

GRANT_TYPE = "th_refresh_token"
# Graph codes that say the token cannot be refreshed, ever: re-authorize.
DEAD = (190, 102, 10, PERMISSION)


class ThreadsRefresher:
    """Stateless, safe to share between threads."""

    def prepare(self, grant: Grant) -> PreparedCall:
        query = urlencode({"grant_type": GRANT_TYPE, "access_token": grant.refresh_token})
        return PreparedCall("GET", f"{grant.token_url}?{query}", {"Accept": "application/json"})

    def read(self, status: int | None, body: Any, error: str | None = None) -> Result:
        if status is None:
            return Transient(f"no answer from the token endpoint ({error or 'unknown'})")
        if 200 <= status < 300:
            return _issued(status, body)
        graph = body.get("error") if isinstance(body, Mapping) else None
        codes = error_codes(graph) if isinstance(graph, Mapping) else ()
        detail = graph if isinstance(graph, Mapping) else {}
        code = next(iter(codes), None)
        message = describe_error(status, code, detail, detail_key="message")
        if any(dead in codes for dead in DEAD):
            return Rejected(f"graph_{code}", message)
        return Transient(message)


def _issued(status: int, body: Any) -> Result:
    """A 2xx answer: the new token, as the access and the refresh token alike."""
    token = body.get("access_token") if isinstance(body, Mapping) else None
    if not visible_ascii(token):
        return Transient(f"HTTP {status} from the token endpoint without a usable access_token")
    assert isinstance(token, str)
    lifetime = body.get("expires_in")
    seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else None
    return Refreshed(access_token=token, refresh_token=token, expires_in=seconds)


REFRESH = ThreadsRefresher()
