"""Accounts and credentials: requests and answers (tokens only ever in requests)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from publisher.api.schemas.common import BackoffName, Billing, ProviderName, Strict
from publisher.core.models import (
    DID_LENGTH,
    Account,
    Credential,
)
from publisher.core.service import MAX_IN_FLIGHT, MAX_TEXT_LIMIT
from publisher.core.service.oauth import MAX_EXPIRES_IN, OAuthFields


class AccountIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    billing_status: Billing = "active"


class AccountPatch(Strict):
    billing_status: Billing | None = None
    paused: bool | None = None
    max_lateness: float | None = Field(default=None, gt=0, le=366 * 86_400)


class OAuthIn(Strict):
    """A credential's OAuth 2.0 side: with a refresh token, publisher keeps the access
    token fresh (README, "OAuth credentials"). Secrets are never returned."""

    refresh_token: str | None = Field(
        default=None, min_length=1, max_length=10_000, examples=["bWVyZnJlc2gtdG9rZW4"]
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the access token expires", examples=["2030-01-01T09:00:00Z"]
    )
    expires_in: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRES_IN,
        strict=True,
        description="seconds until the access token expires (instead of expires_at)",
        examples=[7200],
    )
    token_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="the token endpoint; default: the provider's (X: {base_url}/2/oauth2/token)",
        examples=["https://api.x.com/2/oauth2/token"],
    )
    client_id: str | None = Field(
        default=None, min_length=1, max_length=500, examples=["rG9n6402A3dbUJKzXTNX4oWHJ"]
    )
    client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="confidential clients only (sent as HTTP Basic); public clients omit it",
    )

    def oauth(self) -> OAuthFields:
        return OAuthFields(
            refresh_token=self.refresh_token,
            expires_at=self.expires_at,
            expires_in=self.expires_in,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
        )

    def secrets(self) -> list[str]:
        return self.oauth().secrets()


# A whole request, for the OpenAPI page: an X credential that refreshes itself.
X_OAUTH_EXAMPLE: dict[str, JsonValue] = {
    "provider": "x",
    "base_url": "https://api.x.com",
    "token": "ACCESS_TOKEN",
    "refresh_token": "REFRESH_TOKEN",
    "expires_in": 7200,
    "client_id": "CLIENT_ID",
}


class CredentialIn(OAuthIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [X_OAUTH_EXAMPLE]})

    provider: ProviderName
    base_url: str = Field(min_length=1, max_length=2000)
    token: str = Field(min_length=1, max_length=10_000)
    backoff: BackoffName | None = None
    retry_base: float | None = Field(default=None, ge=0, le=86_400)
    # calls in flight at once on this credential; None: PUBLISHER_CREDENTIAL_CONCURRENCY
    max_in_flight: int | None = Field(default=None, ge=1, le=MAX_IN_FLIGHT, strict=True)
    # the longest text as the network counts it; None: the provider's default
    max_text_length: int | None = Field(default=None, ge=1, le=MAX_TEXT_LIMIT, strict=True)
    identifier: str | None = Field(
        default=None,
        min_length=1,
        max_length=DID_LENGTH,
        description="bluesky: the account's handle or DID; token is then an app password, "
        "and publisher logs in itself (README, Bluesky)",
        examples=["alice.bsky.social"],
    )


class CredentialPatch(Strict):
    # null: back to PUBLISHER_CREDENTIAL_CONCURRENCY; left out: unchanged
    max_in_flight: int | None = Field(default=None, ge=1, le=MAX_IN_FLIGHT, strict=True)
    # null: back to the provider's default; left out: unchanged
    max_text_length: int | None = Field(default=None, ge=1, le=MAX_TEXT_LIMIT, strict=True)


class TokenIn(OAuthIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"token": "ACCESS_TOKEN", "refresh_token": "REFRESH_TOKEN", "expires_in": 7200}
            ]
        },
    )

    token: str = Field(min_length=1, max_length=10_000)
    reapprove: bool = False  # also re-approve posts cancelled as unauthorized (recent ones)
    # bluesky: token is a new app password; the login's handle or DID (default: the kept one)
    identifier: str | None = Field(default=None, min_length=1, max_length=DID_LENGTH)


class AccountOut(BaseModel):
    id: int
    name: str
    billing_status: str
    paused: bool
    max_lateness: float | None
    created_at: datetime

    @classmethod
    def of(cls, row: Account) -> AccountOut:
        return cls(
            id=row.id,
            name=row.name,
            billing_status=row.billing_status,
            paused=row.paused,
            max_lateness=row.max_lateness,
            created_at=row.created_at,
        )


class CredentialOut(BaseModel):
    id: int
    account_id: int
    provider: str
    base_url: str
    invalid_since: datetime | None
    last_verified_at: datetime | None
    rate_limited_until: datetime | None
    backoff: str
    retry_base: float | None
    paused_at: datetime | None
    paused_by: str | None
    max_in_flight: int | None
    max_text_length: int | None
    # Health: valid (not refused by the provider), the token's expiry and refreshes.
    valid: bool
    refreshable: bool  # holds a refresh token: publisher refreshes the access token
    expires_at: datetime | None
    last_refreshed_at: datetime | None
    last_error: str | None  # the last refresh's failure (cleared by a success)
    token_url: str | None
    client_id: str | None
    identifier: str | None  # the login's handle or DID (Bluesky); its password never shown
    did: str | None  # the account the login is for (Bluesky)

    @classmethod
    def of(cls, row: Credential) -> CredentialOut:
        return cls(
            id=row.id,
            account_id=row.account_id,
            provider=row.provider,
            base_url=row.base_url,
            invalid_since=row.invalid_since,
            last_verified_at=row.last_verified_at,
            rate_limited_until=row.rate_limited_until,
            backoff=row.backoff,
            retry_base=row.retry_base,
            paused_at=row.paused_at,
            paused_by=row.paused_by,
            max_in_flight=row.max_in_flight,
            max_text_length=row.max_text_length,
            valid=row.invalid_since is None,
            refreshable=row.refresh_token_encrypted is not None,
            expires_at=row.expires_at,
            last_refreshed_at=row.last_refreshed_at,
            last_error=row.last_error,
            token_url=row.token_url,
            client_id=row.client_id,
            identifier=row.identifier,
            did=row.did,
        )
