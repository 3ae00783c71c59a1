"""The dashboard's session: a signed cookie naming who logged in, with what access, and
the session's CSRF token.

The cookie is signed (itsdangerous, HMAC-SHA256) with a key derived from
``PUBLISHER_SECRET_KEY`` and carries no key, only the key's fingerprint. A session is
honoured only while its key is still configured: removing a key from the settings ends
its sessions at once, and rotating the secret key ends them all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from publisher.core.settings import Settings
from publisher.core.tokens import derived_key

COOKIE = "publisher_dashboard"
# A working day: an operator logs in once per shift, a stolen cookie does not last.
MAX_AGE = 12 * 3600
# Hex digits of a key's fingerprint: 64 bits name a key among a handful, and the HMAC
# behind them cannot be reversed to the key without the server's secret.
FINGERPRINT_DIGITS = 16
# With no key configured at all the dashboard, like the API, serves loopback clients.
LOOPBACK_WHO = "loopback"


@dataclass(frozen=True)
class DashboardSession:
    """Who is logged in (a fingerprint), whether they may act, and the CSRF token."""

    who: str
    readonly: bool
    csrf: str


class Sessions:
    """Issues and reads session cookies, and tells keys apart, for one app's settings."""

    def __init__(self, settings: Settings) -> None:
        secret = derived_key(settings, "publisher dashboard session")
        self._serializer = URLSafeTimedSerializer(secret, salt="dashboard")
        self._fingerprint_key = derived_key(settings, "publisher dashboard fingerprint")
        self._full = tuple(key.encode() for key in settings.api_keys)
        self._readonly = tuple(key.encode() for key in settings.readonly_api_keys)

    @property
    def open_to_loopback(self) -> bool:
        """No key is configured: loopback clients log in without one (as the API serves)."""
        return not self._full and not self._readonly

    def fingerprint(self, key: bytes) -> str:
        """A key's name in the audit log and the cookie: never the key, never reversible."""
        digest = hmac.new(self._fingerprint_key, key, hashlib.sha256).hexdigest()
        return "key:" + digest[:FINGERPRINT_DIGITS]

    def login(self, given: str) -> DashboardSession | None:
        """A new session for ``given`` if it is a configured key, else None. Every key is
        compared, in constant time, so timing tells neither which nor whether."""
        key = given.encode()
        full = readonly = False
        for candidate in self._full:
            full |= hmac.compare_digest(key, candidate)
        for candidate in self._readonly:
            readonly |= hmac.compare_digest(key, candidate)
        if not (full or readonly) or not key:
            return None
        return DashboardSession(self.fingerprint(key), not full, secrets.token_urlsafe(32))

    def loopback(self) -> DashboardSession:
        """The session of a loopback client when no key is configured: full access."""
        return DashboardSession(LOOPBACK_WHO, False, secrets.token_urlsafe(32))

    def dump(self, session: DashboardSession) -> str:
        return self._serializer.dumps({"w": session.who, "r": session.readonly, "c": session.csrf})

    def load(self, cookie: str | None) -> DashboardSession | None:
        """The session in ``cookie`` if it is signed by us, unexpired and its key is still
        configured; else None (never raises on a forged or stale cookie)."""
        if not cookie:
            return None
        try:
            data: Any = self._serializer.loads(cookie, max_age=MAX_AGE)
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(data, dict):
            return None
        session = DashboardSession(str(data.get("w")), bool(data.get("r")), str(data.get("c")))
        return session if self._still_configured(session) else None

    def _still_configured(self, session: DashboardSession) -> bool:
        if session.who == LOOPBACK_WHO:
            return self.open_to_loopback
        keys = self._readonly if session.readonly else self._full
        return any(hmac.compare_digest(self.fingerprint(key), session.who) for key in keys)
