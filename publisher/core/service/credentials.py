"""The Python API for credentials: a provider account's token and settings."""

from __future__ import annotations

from datetime import datetime
from types import EllipsisType

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core.models import Backoff, Credential, utcnow
from publisher.core.service import oauth
from publisher.core.service.accounts import get_account
from publisher.core.service.checks import (
    check_max_in_flight,
    check_max_text_length,
    check_token,
    check_url,
    fetch,
)
from publisher.core.tokens import TokenBox
from publisher.errors import InvalidInput
from publisher.providers import get_provider
from publisher.providers.base import ChecksDestination


def add_credential(
    session: Session,
    box: TokenBox,
    account_id: int,
    provider: str,
    base_url: str,
    token: str,
    *,
    backoff: str | None = None,
    retry_base: float | None = None,
    max_in_flight: int | None = None,
    max_text_length: int | None = None,
    allow_private: bool = True,
    oauth_fields: oauth.OAuthFields = oauth.NONE,
    now: datetime | None = None,
) -> Credential:
    """A credential for ``account_id``. ``max_in_flight``: calls in flight at once on it
    (None: ``PUBLISHER_CREDENTIAL_CONCURRENCY``). ``max_text_length``: the longest text
    its posts may have as the network counts it (None: the provider's default).
    ``base_url`` is refused when it points at a link-local or cloud-metadata address, or
    (``allow_private`` false: pass ``settings.allow_private_urls``) at a loopback or
    private one; the engine checks the resolved address again at every call. A provider
    whose ``base_url`` names a destination (``ChecksDestination``) checks its form too."""
    get_account(session, account_id)
    found = get_provider(provider)
    check_token(token)
    base_url = check_url(base_url, allow_private)
    if isinstance(found, ChecksDestination):  # a chat or webhook, not just a server
        problem = found.destination_problem(base_url, allow_private)
        if problem is not None:
            raise InvalidInput("base_url", problem)
    if backoff is not None and backoff not in Backoff.__members__.values():
        raise InvalidInput("backoff", f"must be one of: {', '.join(b.value for b in Backoff)}")
    if retry_base is not None and retry_base < 0:
        raise InvalidInput("retry_base", "must be >= 0")
    check_max_in_flight(max_in_flight)
    check_max_text_length(max_text_length)
    credential = Credential(
        account_id=account_id,
        provider=provider,
        base_url=base_url,
        token_encrypted=box.encrypt(token),
        backoff=backoff or Backoff.EXPONENTIAL.value,
        retry_base=retry_base,
        max_in_flight=max_in_flight,
        max_text_length=max_text_length,
    )
    oauth.apply(
        credential,
        box,
        oauth_fields,
        now or utcnow(),
        allow_private=allow_private,
        replace_tokens=True,
    )
    session.add(credential)
    session.flush()
    return credential


def get_credential(session: Session, credential_id: int) -> Credential:
    return fetch(session, Credential, credential_id, "credential_id")


def update_credential(
    session: Session,
    credential_id: int,
    now: datetime,
    *,
    max_in_flight: int | EllipsisType | None = ...,
    max_text_length: int | EllipsisType | None = ...,
) -> Credential:
    """Change the credential's settings; a setting not passed keeps its value.
    ``max_in_flight`` None: back to ``PUBLISHER_CREDENTIAL_CONCURRENCY``;
    ``max_text_length`` None: back to the provider's default (drafts are not re-checked)."""
    credential = get_credential(session, credential_id)
    if max_in_flight is not ...:
        check_max_in_flight(max_in_flight)
        credential.max_in_flight = max_in_flight
    if max_text_length is not ...:
        check_max_text_length(max_text_length)
        credential.max_text_length = max_text_length
    credential.updated_at = now
    session.flush()
    return credential


def replace_token(
    session: Session,
    box: TokenBox,
    credential_id: int,
    token: str,
    now: datetime,
    oauth_fields: oauth.OAuthFields = oauth.NONE,
    *,
    allow_private: bool = True,
) -> Credential:
    """Store a new token set and clear the credential's invalid mark: the refresh token
    and expiry become those given (none given: cleared); the token endpoint and client
    keep their values unless given."""
    credential = get_credential(session, credential_id)
    check_token(token)
    oauth.apply(
        credential, box, oauth_fields, now, allow_private=allow_private, replace_tokens=True
    )
    credential.token_encrypted = box.encrypt(token)
    credential.invalid_since = None
    credential.last_verified_at = None
    credential.updated_at = now
    session.flush()
    return credential


def rotate_tokens(session: Session, box: TokenBox) -> int:
    """Re-encrypt every stored token under the box's first key; returns how many.

    Raises ``TokenError`` (and writes nothing, the caller's transaction rolls back) if any
    token cannot be decrypted with the configured keys.
    """
    credentials = session.scalars(select(Credential).order_by(Credential.id)).all()
    for credential in credentials:
        credential.token_encrypted = box.rotate(credential.token_encrypted)
        if credential.refresh_token_encrypted is not None:
            credential.refresh_token_encrypted = box.rotate(credential.refresh_token_encrypted)
        if credential.client_secret_encrypted is not None:
            credential.client_secret_encrypted = box.rotate(credential.client_secret_encrypted)
    session.flush()
    return len(credentials)
