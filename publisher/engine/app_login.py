"""Logging in with an app password: Bluesky's ``com.atproto.server.createSession``.

A Bluesky account is connected with its handle (or DID) and an app password; publisher
logs in itself (https://docs.bsky.app/docs/api/com-atproto-server-create-session) and
keeps the session's JWTs as the credential's token and refresh token. It logs in twice:
at connect (``api.logins``, before anything is stored) and when the PDS refuses the
refresh JWT (``engine.refresh``: log in again, once, before the credential is declared
invalid). Each is one bounded call (``exchange.perform``: the deadline, the answer's
size, the destination rules) read into a value. The password travels in the request's
body only; callers hold it in their redactor, so no log line or error carries it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from publisher.engine.backoff import earliest_from_headers
from publisher.engine.exchange import perform
from publisher.providers.bluesky_session import Login, prepare_create, read_login
from publisher.providers.oauth2 import Rejected, Result, Transient

TOO_MANY = 429  # the PDS rate-limits logins (createSession has a tight limit of its own)


@dataclass(frozen=True)
class Throttled:
    """The PDS refused the login for now (429): nothing happened, try again later."""

    message: str
    retry_after: float | None  # seconds, from Retry-After or RateLimit-Reset; None: unsaid


LoginResult = Login | Rejected | Transient | Throttled


def log_in(
    http: requests.Session,
    base_url: str,
    identifier: str,
    password: str,
    timeout: tuple[float, float],
    *,
    allow_private: bool,
) -> LoginResult:
    """One ``createSession`` call: the session, or why not. Never raises for the PDS's
    trouble (no answer, a refusal, a 5xx: each is a value)."""
    call = prepare_create(base_url, identifier, password)
    exchange = perform(http, call, timeout, time.monotonic() + sum(timeout), allow_private)
    if exchange.forbidden or exchange.oversized:
        reason = exchange.error if exchange.forbidden else "an oversized answer"
        return Transient(f"createSession: {reason}")
    result = read_login(exchange.status, exchange.json(), exchange.error)
    if exchange.status == TOO_MANY and isinstance(result, Transient):
        now = datetime.now(UTC)
        until = earliest_from_headers(exchange.headers, now)
        wait = (until - now).total_seconds() if until is not None else None
        return Throttled(result.message, wait)
    return result


@dataclass(frozen=True)
class StoredLogin:
    """A credential's kept login, decrypted for one refresh."""

    base_url: str
    identifier: str
    password: str


def after_refused(
    http: requests.Session,
    login: StoredLogin,
    refused: Rejected,
    timeout: tuple[float, float],
    *,
    allow_private: bool,
) -> Result:
    """The PDS refused the refresh JWT (expired or revoked): log in again, once. A new
    session is ``Refreshed`` (stored as a refresh's answer is); a refused login is the
    credential's end (``Rejected``); no answer or a rate limit, ``Transient``."""
    outcome = log_in(
        http, login.base_url, login.identifier, login.password, timeout, allow_private=allow_private
    )
    if isinstance(outcome, Login):
        return outcome.session
    if isinstance(outcome, Rejected):
        message = f"{refused.message}; logging in again: {outcome.message}"
        return Rejected(outcome.error, message)
    return Transient(f"{refused.message}; logging in again: {outcome.message}")
