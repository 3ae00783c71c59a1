"""The sandbox's X OAuth 2.0 token endpoint: ``POST /2/oauth2/token`` with
``grant_type=refresh_token``, as X documents it
(https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token).

``issue()`` hands a test a grant (an access token and a refresh token) as if the user
had just authorized the app. A refresh answers a new access token, living
``lifetime_seconds``, and a new refresh token; the one used is spent (X rotates them), so
presenting it again is ``invalid_grant``. Every refresh call is recorded (``calls``: the
refresh token sent, the client), so a test can count them and see which token was sent.
``fail(times, how)`` fails the next refreshes: ``"503"``, ``"timeout"`` (answers after
``slow_seconds``, past a client's timeout, without refreshing) or ``"invalid_grant"``.

Access tokens it issued are checked by the API routes (``accepts``): expired or spent
(``expire``) they get X's 401. Tokens it never issued are accepted as before, so tests
using arbitrary tokens are unaffected. Every token of one grant belongs to one user
(``user_of``): posts created with an earlier access token stay in the user's timeline.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from publisher.sandbox.wire import Request, Response, json_response

TOKEN_PATH = "/2/oauth2/token"
LIFETIME = 7200.0  # X's access tokens last two hours
SCOPE = "tweet.read tweet.write users.read offline.access"
FAULTS = ("503", "timeout", "invalid_grant")


@dataclass(frozen=True)
class Grant:
    """What the user's authorization gave the app."""

    access_token: str
    refresh_token: str
    expires_in: float
    user: str


@dataclass(frozen=True)
class RefreshCall:
    """One call to the token endpoint, as received."""

    refresh_token: str | None
    client_id: str | None  # from the body (public client) or HTTP Basic (confidential)
    basic: bool  # the client authenticated with HTTP Basic
    status: int
    at: datetime
    issued: str | None = None  # the new access token (a 200)
    rotated: str | None = None  # the new refresh token (a 200)


@dataclass
class TokenServer:
    """Issued tokens and the token endpoint's behaviour; thread-safe."""

    lifetime_seconds: float = LIFETIME
    delay_seconds: float = 0.0  # every refresh is answered this much later (races overlap)
    rotate: bool = True  # False: a refresh keeps the refresh token and answers none
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _access: dict[str, tuple[str, float]] = field(default_factory=dict)  # -> user, expiry
    _refresh: dict[str, str] = field(default_factory=dict)  # live refresh token -> user
    _calls: list[RefreshCall] = field(default_factory=list)
    _faults: list[str] = field(default_factory=list)
    _users: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def issue(self, lifetime: float | None = None) -> Grant:
        """A new user's grant (``lifetime``: of its access token, default the server's)."""
        with self._lock:
            user = f"oauth-user-{next(self._users)}"
            access, refresh, expires = self._mint(user, lifetime)
        return Grant(access, refresh, expires, user)

    def _mint(self, user: str, lifetime: float | None) -> tuple[str, str, float]:
        expires = self.lifetime_seconds if lifetime is None else lifetime
        access, refresh = f"at-{secrets.token_urlsafe(16)}", f"rt-{secrets.token_urlsafe(16)}"
        self._access[access] = (user, time.monotonic() + expires)
        self._refresh[refresh] = user
        return access, refresh, expires

    def expire(self, access_token: str) -> None:
        """The access token expires now (the API answers it 401 from now on)."""
        with self._lock:
            if access_token in self._access:
                self._access[access_token] = (self._access[access_token][0], 0.0)

    def fail(self, times: int, how: str = "503") -> None:
        """Fail the next ``times`` refreshes ``how`` (one of ``FAULTS``)."""
        if how not in FAULTS:
            raise ValueError(f"unknown token fault {how!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults = [how] * times

    @property
    def calls(self) -> list[RefreshCall]:
        with self._lock:
            return list(self._calls)

    def accepts(self, token: str | None) -> bool:
        """False for an access token this server issued that has expired; True for any
        other token (those it never issued are not its to judge)."""
        with self._lock:
            issued = self._access.get(token or "")
        return issued is None or issued[1] > time.monotonic()

    def user_of(self, token: str | None) -> str | None:
        """The user an issued access token acts for; any other token is its own user."""
        with self._lock:
            issued = self._access.get(token or "")
        return token if issued is None else issued[0]

    def refresh(self, request: Request, slow_seconds: float) -> Response:
        """Serve one ``POST /2/oauth2/token``."""
        form = request.fields()
        client_id, basic = _client(request, form)
        sent = form.get("refresh_token")
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            response, issued = self._answer(form, sent, client_id, fault, slow_seconds)
            call = RefreshCall(sent, client_id, basic, response.status, datetime.now(UTC), *issued)
            self._calls.append(call)
        if self.delay_seconds and not response.delay:
            response.delay = self.delay_seconds
        return response

    def _answer(
        self,
        form: Mapping[str, str],
        sent: str | None,
        client_id: str | None,
        fault: str | None,
        slow_seconds: float,
    ) -> tuple[Response, tuple[str | None, str | None]]:
        """The answer, and the access and refresh tokens it issued (if any)."""
        none = (None, None)
        if fault == "503":
            return json_response(503, {"title": "Service Unavailable", "status": 503}), none
        if fault == "timeout":
            slow = Response(503, b"{}", {"Content-Type": "application/json"}, delay=slow_seconds)
            return slow, none
        if form.get("grant_type") != "refresh_token":
            refused = _error(400, "unsupported_grant_type", "Only refresh_token is supported.")
            return refused, none
        if not client_id:
            return _error(401, "invalid_client", "Missing valid authorization header"), none
        user = None if fault == "invalid_grant" else self._refresh.pop(sent or "", None)
        if user is None:  # (a used one is spent: X rotates them)
            return _error(400, "invalid_grant", "Value passed for the token was invalid."), none
        access, refresh, expires = self._mint(user, None)
        body = {"token_type": "bearer", "expires_in": int(expires), "access_token": access}
        if not self.rotate:  # the one sent stays valid; the answer names no new one
            self._refresh.pop(refresh)
            self._refresh[sent or ""] = user
            return json_response(200, body | {"scope": SCOPE}), (access, None)
        return json_response(200, body | {"scope": SCOPE, "refresh_token": refresh}), (
            access,
            refresh,
        )

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._faults.clear()


def _client(request: Request, form: Mapping[str, str]) -> tuple[str | None, bool]:
    """The client id, from HTTP Basic (RFC 6749 §2.3.1) or the body."""
    scheme, _, value = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            pair = base64.b64decode(value).decode()
        except ValueError:
            return None, True
        return unquote_plus(pair.partition(":")[0]) or None, True
    return form.get("client_id") or None, False


def _error(status: int, code: str, description: str) -> Response:
    return json_response(status, {"error": code, "error_description": description})
