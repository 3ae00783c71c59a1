"""Refreshing an access token: the request and the reading of its answer, as values.

A ``Refresher`` turns what a refresh needs (``Grant``) into one HTTP request and reads
the answer into ``Refreshed``, ``Rejected`` (the grant is dead: re-authorize) or
``Transient`` (try again later). The engine (``engine/refresh.py``) makes the call, holds
the single-flight lease and stores the tokens; this module is pure. ``OAuth2Refresher``
speaks RFC 6749 §6 (the refresh token grant), which X uses; another wire format (Bluesky's
``com.atproto.server.refreshSession``) is another implementation of the same Protocol.

Sources: RFC 6749 §6 (refresh request), §5.1 (successful answer: ``access_token``,
``token_type``, ``expires_in``, an optional new ``refresh_token``), §5.2 (error codes),
§2.3.1 (a confidential client authenticates with HTTP Basic, its id and secret each
form-urlencoded first; a public client sends ``client_id`` in the body, §3.2.1),
https://datatracker.ietf.org/doc/html/rfc6749; X:
https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token (``POST
https://api.x.com/2/oauth2/token``, form-encoded ``grant_type=refresh_token``,
``refresh_token`` and, for a public client, ``client_id``; confidential clients use Basic;
access tokens last two hours; a refresh answers a new refresh token, the old one is
then spent).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote_plus, urlencode

from publisher.providers.base import PreparedCall

# The token endpoint's path under a provider's base URL, when the credential names none.
DEFAULT_TOKEN_PATHS: Mapping[str, str] = {
    "x": "/2/oauth2/token",
    "mastodon": "/oauth/token",
    "bluesky": "/xrpc/com.atproto.server.refreshSession",  # Bluesky: ``bluesky_session``
}

# RFC 6749 §5.2: every registered error code says the request cannot succeed as it is
# (the grant or the client is refused): True means "re-authorize", never "retry".
# ``invalid_grant``: the refresh token is invalid, expired, revoked or already used.
PERMANENT_ERRORS: Mapping[str, bool] = {
    "invalid_request": True,
    "invalid_client": True,
    "invalid_grant": True,
    "unauthorized_client": True,
    "unsupported_grant_type": True,
    "invalid_scope": True,
}

SERVER_ERROR = 500  # and up, and 429: the endpoint is having trouble, not refusing us
TOO_MANY = 429
MESSAGE_LIMIT = 300  # characters of the endpoint's error description kept


@dataclass(frozen=True)
class Grant:
    """What a refresh needs: the endpoint, the refresh token, the client."""

    token_url: str
    refresh_token: str
    client_id: str | None = None
    client_secret: str | None = None  # set: a confidential client (HTTP Basic)


@dataclass(frozen=True)
class Refreshed:
    """The endpoint issued a new access token (and perhaps a new refresh token)."""

    access_token: str
    refresh_token: str | None  # None: keep the one we have (never store an empty one)
    expires_in: float | None  # seconds from the request; None: the endpoint did not say


@dataclass(frozen=True)
class Rejected:
    """The endpoint refused the grant for good: the credential needs re-authorization."""

    error: str  # the RFC 6749 §5.2 code, e.g. invalid_grant
    message: str


@dataclass(frozen=True)
class Transient:
    """No usable answer (no answer, 5xx, 429, unreadable): try again later."""

    message: str


Result = Refreshed | Rejected | Transient


class Refresher(Protocol):
    """One wire format of "give me a new access token"."""

    def prepare(self, grant: Grant) -> PreparedCall:
        """The HTTP request that refreshes ``grant``."""
        ...

    def read(self, status: int | None, body: Any, error: str | None = None) -> Result:
        """What the answer means: ``status`` None is no answer (``error`` says why);
        ``body`` is the parsed JSON (or the text when not JSON)."""
        ...


def visible_ascii(value: object) -> bool:
    """Whether ``value`` is a non-empty string that can go in an HTTP header as is."""
    return isinstance(value, str) and bool(value) and all("!" <= ch <= "~" for ch in value)


def basic_auth(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: ``Basic base64(urlencode(id):urlencode(secret))``."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class OAuth2Refresher:
    """RFC 6749 §6 over a form-encoded POST; stateless, safe to share between threads."""

    def prepare(self, grant: Grant) -> PreparedCall:
        form = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if grant.client_secret and grant.client_id:
            headers["Authorization"] = basic_auth(grant.client_id, grant.client_secret)
        elif grant.client_id:
            form["client_id"] = grant.client_id
        return PreparedCall("POST", grant.token_url, headers, data=urlencode(form).encode())

    def read(self, status: int | None, body: Any, error: str | None = None) -> Result:
        if status is None:
            return Transient(f"no answer from the token endpoint ({error or 'unknown'})")
        if 200 <= status < 300:
            return _issued(status, body)
        code = body.get("error") if isinstance(body, Mapping) else None
        if status != TOO_MANY and status < SERVER_ERROR and PERMANENT_ERRORS.get(str(code)):
            return Rejected(str(code), describe_error(status, code, body))
        return Transient(describe_error(status, code, body))


def _issued(status: int, body: Any) -> Result:
    """A 2xx answer (RFC 6749 §5.1) as ``Refreshed``, or ``Transient`` when unreadable."""
    if not isinstance(body, Mapping) or not visible_ascii(body.get("access_token")):
        return Transient(f"HTTP {status} from the token endpoint without a usable access_token")
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return Transient(f"HTTP {status}: token_type {str(token_type)[:40]!r} is not bearer")
    refresh = body.get("refresh_token")
    return Refreshed(
        access_token=body["access_token"],
        refresh_token=refresh if visible_ascii(refresh) else None,
        expires_in=_seconds(body.get("expires_in")),
    )


def _seconds(value: object) -> float | None:
    """``expires_in`` as positive seconds (some servers send a string), else None."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def describe_error(
    status: int, code: object, body: Any, detail_key: str = "error_description"
) -> str:
    """``HTTP 400: invalid_grant (description)``, the description from ``detail_key``,
    bounded; never the request's secrets (the engine scrubs this text with the job's
    redactor as well)."""
    head = f"HTTP {status}"
    if code is not None:
        head += f": {str(code)[:60]}"
    detail = body.get(detail_key) if isinstance(body, Mapping) else None
    if isinstance(detail, str) and detail.strip():
        head += f" ({detail.strip()[:MESSAGE_LIMIT]})"
    return head


OAUTH2 = OAuth2Refresher()  # each provider's refresher: ``providers.refreshers``


# Token endpoints on a host of their own rather than under the API's base URL.
DEFAULT_TOKEN_URLS: Mapping[str, str] = {
    # https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
    "linkedin": "https://www.linkedin.com/oauth/v2/accessToken",
    # https://developers.facebook.com/docs/threads/get-started/long-lived-tokens
    "threads": "https://graph.threads.net/refresh_access_token",
}


def default_token_url(provider: str, base_url: str) -> str | None:
    """Where ``provider``'s token endpoint is (under ``base_url``, or on a host of its
    own); None: none is known."""
    if provider in DEFAULT_TOKEN_URLS:
        return DEFAULT_TOKEN_URLS[provider]
    path = DEFAULT_TOKEN_PATHS.get(provider)
    return None if path is None else base_url.rstrip("/") + path
