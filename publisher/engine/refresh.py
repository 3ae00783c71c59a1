"""Refreshing a credential's access token, one refresh per credential at a time.

Single flight rests on the credential row, the source of truth, not on Redis: a
compare-and-set takes the refresh lease (``refresh_owner``, ``refresh_until``) only when
no live lease exists and the token is still the one the caller saw, so it works alike on
SQLite and PostgreSQL and across machines, and a lease held by a dead worker lapses by
itself after ``PUBLISHER_LEASE_SECONDS`` (longer than the refresh call, whose deadline
ends it first). A Redis lock could say who refreshes, but the tokens must be written to
the row anyway, and a lock in another store could disagree with it after a Redis restart;
the row cannot. Whoever loses the compare-and-set does not call: it waits for the
winner's result (``Status.BUSY``), or finds the token already replaced (``ALREADY``).

The answer is written in ONE transaction as soon as the endpoint answers, fenced by the
lease owner, before anything else: the new access token, the rotated refresh token (an
answer without one keeps ours: never an empty one), the expiry, ``last_refreshed_at``. A
worker killed between the endpoint's answer and that commit loses the answer: the
endpoint may already have spent our refresh token (X rotates them; RFC 6749 §10.4), so
the next refresh meets ``invalid_grant`` and the credential asks for re-authorization,
exactly as when the endpoint's answer is lost in the network. Nothing shorter than one
transaction can close that window; it is as wide as one commit.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select, update

from publisher.core import notifications, redact
from publisher.core.models import CREDENTIALS
from publisher.engine import app_login
from publisher.engine.dependencies import Dependencies
from publisher.engine.exchange import perform
from publisher.engine.telemetry import metrics
from publisher.errors import TokenError
from publisher.providers import oauth2
from publisher.providers.refreshers import REFRESHERS

log = logging.getLogger(__name__)

# After a failed refresh (or once the sweep has sent a refresh message), the sweep asks
# again no sooner than this: a token endpoint in trouble gets a call per credential every
# 30 s, not every sweep. A worker meeting the expired token may try before.
RETRY_AFTER = timedelta(seconds=30)
ERROR_LIMIT = 500  # characters of an error kept in ``credentials.last_error``


class Status(enum.StrEnum):
    REFRESHED = "refreshed"  # this call refreshed it; the new token is stored
    ALREADY = "already"  # the token changed since the caller read it, or is not due
    BUSY = "busy"  # another refresh is in flight: wait for its result
    REJECTED = "rejected"  # the endpoint refused the grant: the credential is invalid
    TRANSIENT = "transient"  # no usable answer: try again later
    NOT_REFRESHABLE = "not_refreshable"  # no refresh token (any more)


@dataclass(frozen=True)
class Attempted:
    status: Status
    message: str | None = None


@dataclass(frozen=True)
class RefreshLease:
    """The credential as read when its refresh lease was taken."""

    credential_id: int
    account_id: int
    provider: str
    owner: str
    token_url: str
    refresh_token_encrypted: str
    client_id: str | None
    client_secret_encrypted: str | None
    login: tuple[str, str, str] | None = None  # base_url, identifier, app password encrypted


_ROW = select(
    CREDENTIALS.c.id,
    CREDENTIALS.c.account_id,
    CREDENTIALS.c.provider,
    CREDENTIALS.c.token_encrypted,
    CREDENTIALS.c.refresh_token_encrypted,
    CREDENTIALS.c.token_url,
    CREDENTIALS.c.client_id,
    CREDENTIALS.c.client_secret_encrypted,
    CREDENTIALS.c.expires_at,
    CREDENTIALS.c.invalid_since,
    CREDENTIALS.c.base_url,
    CREDENTIALS.c.identifier,
    CREDENTIALS.c.app_password_encrypted,
)


def refresh(
    deps: Dependencies,
    credential_id: int,
    *,
    seen_token: str | None = None,
    due_before: datetime | None = None,
    notify: bool = False,
) -> Attempted:
    """Refresh the credential's token unless another refresh is in flight (``BUSY``) or
    it is not needed any more (``ALREADY``: the stored token is not ``seen_token``, the
    encrypted token the caller used, or it expires after ``due_before``). Never raises
    for the endpoint's failures. ``notify``: a refused grant also queues a
    ``reauthorize`` notification for the account (no post waits to say so)."""
    now = deps.clock()
    owner = f"{deps.owner}:{uuid.uuid4().hex[:12]}"
    with deps.engine.begin() as connection:
        taken = _take(connection, credential_id, owner, now, deps.lease, seen_token, due_before)
    if not isinstance(taken, RefreshLease):
        return taken
    try:
        secrets = _secrets(deps, taken)
    except TokenError:
        message = "the stored refresh token cannot be decrypted with the configured keys"
        _store(deps, taken, oauth2.Transient(message), now, notify)
        return Attempted(Status.TRANSIENT, message)
    with redact.activated(redact.Redactor(secrets.secrets())):
        result = _call(deps, secrets)
        return _store(deps, taken, result, now, notify)


def _take(
    connection: Connection,
    credential_id: int,
    owner: str,
    now: datetime,
    lease: timedelta,
    seen_token: str | None,
    due_before: datetime | None,
) -> RefreshLease | Attempted:
    """The refresh lease (compare-and-set on the row as read), or why not."""
    row = connection.execute(_ROW.where(CREDENTIALS.c.id == credential_id)).one_or_none()
    if row is None or row.refresh_token_encrypted is None or row.token_url is None:
        return Attempted(Status.NOT_REFRESHABLE)
    if row.invalid_since is not None:
        return Attempted(Status.REJECTED, "the credential is marked invalid")
    if seen_token is not None and row.token_encrypted != seen_token:
        return Attempted(Status.ALREADY)
    if due_before is not None and (row.expires_at is None or row.expires_at > due_before):
        return Attempted(Status.ALREADY)
    won = connection.execute(
        update(CREDENTIALS)
        .where(
            CREDENTIALS.c.id == credential_id,
            CREDENTIALS.c.token_encrypted == row.token_encrypted,
            CREDENTIALS.c.refresh_token_encrypted == row.refresh_token_encrypted,
            or_(CREDENTIALS.c.refresh_owner.is_(None), CREDENTIALS.c.refresh_until < now),
        )
        .values(refresh_owner=owner, refresh_until=now + lease)
    )
    if won.rowcount != 1:
        return Attempted(Status.BUSY)
    return RefreshLease(
        row.id,
        row.account_id,
        row.provider,
        owner,
        row.token_url,
        row.refresh_token_encrypted,
        row.client_id,
        row.client_secret_encrypted,
        _kept_login(row.base_url, row.identifier, row.app_password_encrypted),
    )


def _kept_login(
    base_url: str, identifier: str | None, password_encrypted: str | None
) -> tuple[str, str, str] | None:
    if identifier is None or password_encrypted is None:
        return None
    return base_url, identifier, password_encrypted


@dataclass(frozen=True)
class _Prepared:
    grant: oauth2.Grant
    refresher: oauth2.Refresher
    login: app_login.StoredLogin | None = None  # log in again if the grant is refused

    def secrets(self) -> list[str]:
        password = self.login.password if self.login else None
        return [s for s in (self.grant.refresh_token, self.grant.client_secret, password) if s]


def _secrets(deps: Dependencies, lease: RefreshLease) -> _Prepared:
    secret = lease.client_secret_encrypted
    grant = oauth2.Grant(
        token_url=lease.token_url,
        refresh_token=deps.box.decrypt(lease.refresh_token_encrypted),
        client_id=lease.client_id,
        client_secret=deps.box.decrypt(secret) if secret else None,
    )
    login = None
    if lease.login is not None:
        base_url, identifier, password = lease.login
        login = app_login.StoredLogin(base_url, identifier, deps.box.decrypt(password))
    return _Prepared(grant, REFRESHERS.get(lease.provider, oauth2.OAUTH2), login)


def _call(deps: Dependencies, secrets: _Prepared) -> oauth2.Result:
    """One call to the token endpoint, bounded like a publish (deadline, size, the
    destination rules), read into a value. A refused grant with a kept login (Bluesky's
    app password) logs in again, once, before it counts as refused (``app_login``)."""
    call = secrets.refresher.prepare(secrets.grant)
    deadline = time.monotonic() + sum(deps.timeout)
    exchange = perform(deps.http, call, deps.timeout, deadline, deps.settings.allow_private_urls)
    if exchange.forbidden or exchange.oversized:
        reason = exchange.error if exchange.forbidden else "an oversized answer"
        return oauth2.Transient(f"token endpoint: {reason}")
    body: Any = exchange.json()
    result = secrets.refresher.read(exchange.status, body, exchange.error)
    if isinstance(result, oauth2.Rejected) and secrets.login is not None:
        private = deps.settings.allow_private_urls
        return app_login.after_refused(
            deps.http, secrets.login, result, deps.timeout, allow_private=private
        )
    return result


def _store(
    deps: Dependencies, lease: RefreshLease, result: oauth2.Result, sent_at: datetime, notify: bool
) -> Attempted:
    """The endpoint's answer, written in one transaction fenced by the lease owner."""
    now = deps.clock()
    values = _values(deps, result, sent_at, now)
    fence = update(CREDENTIALS).where(
        CREDENTIALS.c.id == lease.credential_id, CREDENTIALS.c.refresh_owner == lease.owner
    )
    with deps.engine.begin() as connection:
        written = connection.execute(fence.values(**values)).rowcount == 1
        if written and isinstance(result, oauth2.Rejected) and notify:
            what = f"credential {lease.credential_id} ({lease.provider}) needs re-authorization"
            message = f"{what}: {values['last_error']}"
            notifications.add(connection, lease.account_id, None, "reauthorize", message, now)
    return _report(lease, result, written, values.get("last_error"))


def _values(
    deps: Dependencies, result: oauth2.Result, sent_at: datetime, now: datetime
) -> dict[str, Any]:
    """The row's new values for ``result`` (secrets encrypted, errors scrubbed)."""
    values: dict[str, Any] = {"refresh_owner": None, "refresh_until": None}
    if isinstance(result, oauth2.Refreshed):
        values |= {
            "token_encrypted": deps.box.encrypt(result.access_token),
            "last_refreshed_at": now,
            "last_error": None,
            # From when the request left: the token's life started no earlier.
            "expires_at": sent_at + timedelta(seconds=result.expires_in)
            if result.expires_in is not None
            else None,
        }
        if result.refresh_token:  # a rotated refresh token; none sent: keep ours
            values["refresh_token_encrypted"] = deps.box.encrypt(result.refresh_token)
        return values
    message = redact.active()(result.message)[:ERROR_LIMIT]
    values["last_error"] = f"refresh: {message}"
    if isinstance(result, oauth2.Rejected):
        values["invalid_since"] = now
    else:
        values["refresh_until"] = now + RETRY_AFTER  # no owner: only the sweep waits
    return values


def _report(
    lease: RefreshLease, result: oauth2.Result, written: bool, error: str | None
) -> Attempted:
    """Log what happened (never a secret) and say it as a value."""
    fields = {"credential_id": lease.credential_id, "provider": lease.provider}
    metrics.observe_refresh(lease.provider, type(result).__name__.lower())
    if not written:
        log.error(
            "credential %s: refresh lease lost before the answer was stored",
            lease.credential_id,
            extra=fields,
        )
        return Attempted(Status.TRANSIENT, "the refresh lease was lost")
    if isinstance(result, oauth2.Refreshed):
        log.info("credential %s: token refreshed", lease.credential_id, extra=fields)
        return Attempted(Status.REFRESHED)
    if isinstance(result, oauth2.Rejected):
        log.warning("credential %s: %s", lease.credential_id, error, extra=fields)
        return Attempted(Status.REJECTED, error)
    log.info("credential %s: %s; will try again", lease.credential_id, error, extra=fields)
    return Attempted(Status.TRANSIENT, error)
