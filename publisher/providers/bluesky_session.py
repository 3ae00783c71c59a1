"""Refreshing a Bluesky session: ``com.atproto.server.refreshSession`` as a ``Refresher``.

A Bluesky session is a pair of JWTs from ``com.atproto.server.createSession``
(identifier and app password): a short-lived ``accessJwt`` that every call carries, and a
longer-lived ``refreshJwt``. ``refreshSession`` is a POST with no body that carries the
*refresh* JWT as its bearer token and answers a new pair (``accessJwt``, ``refreshJwt``,
``handle``, ``did``); the old refresh JWT is then spent. Sources:
lexicons/com/atproto/server/refreshSession.json and createSession.json in
https://github.com/bluesky-social/atproto (errors ``AccountTakedown``,
``InvalidToken``, ``ExpiredToken``), https://docs.bsky.app/docs/advanced-guides/auth
(tokens, refresh), https://atproto.com/specs/xrpc (error bodies ``{error, message}``).

The credential keeps the access JWT as its token, the refresh JWT as its refresh token
and ``{pds}/xrpc/com.atproto.server.refreshSession`` as its token URL, so the engine's
OAuth refresh path (one refresh at a time, a 401 refreshes once and resumes) serves
Bluesky unchanged. The access JWT's lifetime is read from its own ``exp`` claim, as the
answer names none.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from publisher.providers.base import PreparedCall
from publisher.providers.oauth2 import (
    Grant,
    Refreshed,
    Rejected,
    Result,
    Transient,
    describe_error,
    visible_ascii,
)

REFRESH_PATH = "/xrpc/com.atproto.server.refreshSession"
CREATE_PATH = "/xrpc/com.atproto.server.createSession"

# The XRPC errors that say the refresh JWT is dead for good (re-connect the account with
# the app password); anything else is worth another try later.
PERMANENT_ERRORS = frozenset(
    {"ExpiredToken", "InvalidToken", "AccountTakedown", "AuthenticationRequired"}
)

TOO_MANY = 429
SERVER_ERROR = 500  # and up: the PDS is in trouble, not refusing us


def prepare_create(base_url: str, identifier: str, app_password: str) -> PreparedCall:
    """``createSession``: a new session from the account's handle or DID and an app
    password (what a main app connects a Bluesky account with)."""
    return PreparedCall(
        "POST",
        base_url.rstrip("/") + CREATE_PATH,
        {"Accept": "application/json"},
        json={"identifier": identifier, "password": app_password},
    )


class SessionRefresher:
    """``refreshSession``; stateless, safe to share between threads."""

    def prepare(self, grant: Grant) -> PreparedCall:
        return PreparedCall(
            "POST",
            grant.token_url,
            {"Authorization": f"Bearer {grant.refresh_token}", "Accept": "application/json"},
        )

    def read(self, status: int | None, body: Any, error: str | None = None) -> Result:
        if status is None:
            return Transient(f"no answer from the PDS ({error or 'unknown'})")
        if 200 <= status < 300:
            return _issued(status, body)
        code = body.get("error") if isinstance(body, Mapping) else None
        message = describe_error(status, code, body, detail_key="message")
        refused = status == 401 or str(code) in PERMANENT_ERRORS
        if status != TOO_MANY and status < SERVER_ERROR and refused:
            return Rejected(str(code or f"HTTP {status}"), message)
        return Transient(message)


def expires_in(access_jwt: str, issued_at: float | None = None) -> float | None:
    """Seconds the access JWT lives (``exp - iat`` of its claims, unverified); None when
    it does not say."""
    try:
        segment = access_jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    if not isinstance(claims, Mapping):
        return None
    exp, iat = claims.get("exp"), claims.get("iat", issued_at)
    if not (_number(exp) and _number(iat)):
        return None
    lifetime = float(exp) - float(iat)
    return lifetime if lifetime > 0 else None


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _issued(status: int, body: Any) -> Result:
    if not isinstance(body, Mapping) or not visible_ascii(body.get("accessJwt")):
        return Transient(f"HTTP {status} from the PDS without a usable accessJwt")
    refresh = body.get("refreshJwt")
    return Refreshed(
        access_token=body["accessJwt"],
        refresh_token=refresh if visible_ascii(refresh) else None,
        expires_in=expires_in(body["accessJwt"]),
    )


SESSION = SessionRefresher()


@dataclass(frozen=True)
class Login:
    """``createSession`` issued a session: the tokens, and the account's DID."""

    session: Refreshed
    did: str


def read_login(
    status: int | None, body: Any, error: str | None = None
) -> Login | Rejected | Transient:
    """``createSession``'s answer: ``Login``, or why not. It answers as ``refreshSession``
    does (``accessJwt``, ``refreshJwt``, ``handle``, ``did``), so the refusals are read
    alike: 401 ``AuthenticationRequired`` is a wrong identifier or app password and
    ``AccountTakedown`` a suspended account, both ``Rejected``; 429 and 5xx ``Transient``
    (https://docs.bsky.app/docs/api/com-atproto-server-create-session)."""
    result = SESSION.read(status, body, error)
    if not isinstance(result, Refreshed):
        return result
    did = body.get("did") if isinstance(body, Mapping) else None
    if not (isinstance(did, str) and did.startswith("did:") and visible_ascii(did)):
        return Transient(f"HTTP {status} from the PDS without the account's did")
    return Login(session=result, did=did)
