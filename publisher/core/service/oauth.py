"""The Python API for a credential's OAuth 2.0 side: the refresh token, the access
token's expiry, the token endpoint and the client (``engine/refresh.py`` uses them).

Secrets (the refresh token, the client secret) are encrypted like the access token and
never returned. Every check raises ``InvalidInput`` naming the field before anything is
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from publisher.core.models import Credential
from publisher.core.service.checks import aware, check_token, check_url
from publisher.core.tokens import TokenBox
from publisher.errors import InvalidInput
from publisher.providers.oauth2 import default_token_url, visible_ascii
from publisher.providers.refreshers import CLIENTLESS, REFRESHERS

# An access token said to last longer than ten years is surely a unit mistake (ms for s).
MAX_EXPIRES_IN = 10 * 366 * 86_400
CLIENT_ID_LIMIT = 500  # the column's width; real client ids are a few dozen characters


@dataclass(frozen=True)
class OAuthFields:
    """What the main app may send about a credential's OAuth side (None: not given)."""

    refresh_token: str | None = None
    expires_at: datetime | None = None
    expires_in: float | None = None  # seconds from now; instead of expires_at
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def secrets(self) -> list[str]:
        """The secrets in these fields, for the request's redactor."""
        return [s for s in (self.refresh_token, self.client_secret) if s]


NONE = OAuthFields()


def expiry(fields: OAuthFields, now: datetime) -> datetime | None:
    """The access token's expiry from ``expires_at`` or ``expires_in`` (not both)."""
    if fields.expires_at is not None and fields.expires_in is not None:
        raise InvalidInput("expires_in", "give expires_at or expires_in, not both")
    if fields.expires_in is not None:
        if not 0 < fields.expires_in <= MAX_EXPIRES_IN:
            raise InvalidInput("expires_in", f"must be between 1 and {MAX_EXPIRES_IN} seconds")
        return now + timedelta(seconds=fields.expires_in)
    given = aware(fields.expires_at, "expires_at")
    return None if given is None else given.astimezone(UTC)


def _client_id(value: str) -> str:
    if len(value) > CLIENT_ID_LIMIT or not visible_ascii(value):
        raise InvalidInput(
            "client_id", f"must be 1 to {CLIENT_ID_LIMIT} printable ASCII characters, no spaces"
        )
    return value


def _secret(value: str, field: str) -> str:
    try:
        return check_token(value)
    except InvalidInput as exc:
        raise InvalidInput(field, exc.message) from None


def apply(
    credential: Credential,
    box: TokenBox,
    fields: OAuthFields,
    now: datetime,
    *,
    allow_private: bool,
    replace_tokens: bool,
) -> None:
    """Set the OAuth fields on ``credential`` (validated first, nothing half-written).

    ``replace_tokens``: a new token set (the access token was replaced): the refresh
    token and expiry become the ones given, cleared when not given. The token endpoint
    and the client keep their values unless given. A refresh token needs a client id
    and a token endpoint (given, kept or the provider's default)."""
    expires = expiry(fields, now)
    refresh = fields.refresh_token and _secret(fields.refresh_token, "refresh_token")
    secret = fields.client_secret and _secret(fields.client_secret, "client_secret")
    client_id = _client_id(fields.client_id) if fields.client_id is not None else None
    url = fields.token_url and check_url(fields.token_url, allow_private, field="token_url")
    url = url or credential.token_url or default_token_url(credential.provider, credential.base_url)
    refreshable = refresh or (not replace_tokens and credential.refresh_token_encrypted)
    if refreshable:
        if credential.provider not in REFRESHERS:
            raise InvalidInput("refresh_token", f"{credential.provider} cannot refresh a token")
        if url is None:
            raise InvalidInput("token_url", "is required with a refresh_token for this provider")
        if not (client_id or credential.client_id) and credential.provider not in CLIENTLESS:
            raise InvalidInput("client_id", "is required with a refresh_token")
    if replace_tokens or refresh:
        credential.refresh_token_encrypted = box.encrypt(refresh) if refresh else None
    if replace_tokens or expires is not None:
        credential.expires_at = expires
    if refreshable or fields.token_url is not None:
        credential.token_url = url
    if client_id is not None:
        credential.client_id = client_id
    if secret:
        credential.client_secret_encrypted = box.encrypt(secret)
    credential.refresh_owner = credential.refresh_until = None  # a new grant: no wait
    credential.last_error = None
