"""Connecting a credential by logging in (Bluesky) instead of handing publisher a token.

``POST /v1/accounts/{id}/credentials`` with ``{"provider": "bluesky", "base_url": <PDS>,
"identifier": <handle or DID>, "token": <app password>}``: publisher calls
``com.atproto.server.createSession`` itself
(https://docs.bsky.app/docs/api/com-atproto-server-create-session) and stores the
session (access JWT as the token, refresh JWT as the refresh token, both encrypted),
the DID and the app password (encrypted, to log in again: ``core.service.logins``).
Nothing is stored unless the login succeeded; every failure is a JSON answer naming it:
a wrong identifier or password 422 on ``token``, a suspended account 422 on
``identifier``, a rate limit 429 with ``Retry-After``, a PDS that cannot be reached or
answers 5xx 502. The app password is never in an answer, a log line or an error.
``PUT /v1/credentials/{id}/token`` with a new app password (after a ``reauthorize``)
logs in the same way and replaces the session.
"""

from __future__ import annotations

from dataclasses import dataclass

from publisher.api.context import Context
from publisher.api.schemas import CredentialIn, TokenIn
from publisher.api.schemas.accounts import OAuthIn
from publisher.core import db, redact, service
from publisher.core.service.checks import check_token, check_url
from publisher.core.service.logins import LOGIN_PROVIDERS, AppLogin, check_identifier
from publisher.core.service.oauth import OAuthFields
from publisher.engine.app_login import LoginResult, Throttled, log_in
from publisher.errors import InvalidInput, ProviderRateLimited, ProviderUnavailable
from publisher.providers.bluesky_session import Login
from publisher.providers.oauth2 import Rejected

TAKEDOWN = "AccountTakedown"  # the login's refusal that concerns the account, not the password
TOKEN_FIELDS = ("refresh_token", "expires_at", "expires_in", "token_url", "client_id")


@dataclass(frozen=True)
class TokenSet:
    """What a credential stores: its token, its OAuth side, and the login that made them."""

    token: str
    oauth: OAuthFields
    login: AppLogin | None = None


def new_token_set(ctx: Context, account_id: int, body: CredentialIn) -> TokenSet:
    """What ``POST /v1/accounts/{id}/credentials`` stores: the body's tokens, or, for a
    provider that logs in, the session of a login with ``identifier`` and the app
    password given as ``token``. Raises (``InvalidInput``, ``NotFound``,
    ``ProviderUnavailable``) before anything is written when the login fails."""
    if body.provider not in LOGIN_PROVIDERS and body.identifier is None:
        return TokenSet(body.token, body.oauth())
    identifier = check_identifier(body.provider, body.identifier)
    _refuse_token_fields(body.provider, body)
    check_token(body.token)  # the app password, before it is sent anywhere
    with db.transaction(ctx.sessions) as session:
        service.get_account(session, account_id)  # a 404 before any call
    base_url = check_url(body.base_url, ctx.settings.allow_private_urls)
    return _log_in(ctx, base_url, identifier, body.token)


def token_set(ctx: Context, credential_id: int, body: TokenIn) -> TokenSet:
    """What ``PUT /v1/credentials/{id}/token`` stores: the body's tokens, or, for a
    credential that logs in, the session of a new login with the app password given as
    ``token`` (and the stored identifier unless one is given). Raises as ``connect``."""
    with db.transaction(ctx.sessions) as session:
        credential = service.get_credential(session, credential_id)
        provider, base_url, kept = credential.provider, credential.base_url, credential.identifier
    if provider not in LOGIN_PROVIDERS and body.identifier is None:
        return TokenSet(body.token, body.oauth())
    identifier = check_identifier(provider, body.identifier or kept)
    _refuse_token_fields(provider, body)
    check_token(body.token)
    return _log_in(ctx, base_url, identifier, body.token)


def _refuse_token_fields(provider: str, body: OAuthIn) -> None:
    given = [name for name in (*TOKEN_FIELDS, "client_secret") if getattr(body, name)]
    if given:
        raise InvalidInput(given[0], f"{provider}: publisher logs in itself; leave it out")


def _log_in(ctx: Context, base_url: str, identifier: str, password: str) -> TokenSet:
    """One login at ``base_url``: what the credential stores, or the caller's error."""
    timeout = (ctx.settings.http_connect_timeout, ctx.settings.http_timeout)
    private = ctx.settings.allow_private_urls
    with redact.activated(redact.Redactor([password])):
        result = log_in(ctx.http, base_url, identifier, password, timeout, allow_private=private)
        login = _logged_in(result, base_url)
    oauth = OAuthFields(
        refresh_token=login.session.refresh_token, expires_in=login.session.expires_in
    )
    return TokenSet(login.session.access_token, oauth, AppLogin(identifier, password, login.did))


def _logged_in(result: LoginResult, base_url: str) -> Login:
    """The session, or the error the caller gets (the PDS's words, scrubbed)."""
    if isinstance(result, Login):
        return result
    scrub = redact.active()
    if isinstance(result, Rejected):
        if result.error == TAKEDOWN:
            refused = f"the PDS refused the account: {result.message}"
            raise InvalidInput("identifier", scrub(refused))
        message = f"the PDS refused the identifier and app password: {result.message}"
        raise InvalidInput("token", scrub(message))
    if isinstance(result, Throttled):
        message = f"the PDS at {base_url} is rate limiting logins: {result.message}"
        raise ProviderRateLimited(scrub(message), retry_after=result.retry_after)
    raise ProviderUnavailable(scrub(f"could not log in at {base_url}: {result.message}"))
