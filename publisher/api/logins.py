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
"""

from __future__ import annotations

from publisher.api.context import Context
from publisher.api.schemas import CredentialIn, CredentialOut
from publisher.core import db, redact, service
from publisher.core.service.checks import check_url
from publisher.core.service.logins import AppLogin, check_identifier
from publisher.engine.app_login import LoginResult, Throttled, log_in
from publisher.errors import InvalidInput, ProviderRateLimited, ProviderUnavailable
from publisher.providers.bluesky_session import Login
from publisher.providers.oauth2 import Rejected

TAKEDOWN = "AccountTakedown"  # the login's refusal that concerns the account, not the password
TOKEN_FIELDS = ("refresh_token", "expires_at", "expires_in", "token_url", "client_id")


def connect(ctx: Context, account_id: int, body: CredentialIn) -> CredentialOut:
    """Log in, then store the credential; raises (``InvalidInput``, ``NotFound``,
    ``ProviderUnavailable``) before anything is written when either fails."""
    identifier = check_identifier(body.provider, body.identifier)
    given = [name for name in (*TOKEN_FIELDS, "client_secret") if getattr(body, name)]
    if given:
        raise InvalidInput(given[0], f"{body.provider}: publisher logs in itself; leave it out")
    allow_private = ctx.settings.allow_private_urls
    with db.transaction(ctx.sessions) as session:
        service.get_account(session, account_id)  # a 404 before any call
    base_url = check_url(body.base_url, allow_private)
    timeout = (ctx.settings.http_connect_timeout, ctx.settings.http_timeout)
    with redact.activated(redact.Redactor([body.token])):
        result = log_in(
            ctx.http, base_url, identifier, body.token, timeout, allow_private=allow_private
        )
        login = _logged_in(result, base_url)
        with db.transaction(ctx.sessions) as session:
            credential = service.add_credential(
                session,
                ctx.box,
                account_id,
                body.provider,
                base_url,
                login.session.access_token,
                backoff=body.backoff,
                retry_base=body.retry_base,
                max_in_flight=body.max_in_flight,
                max_text_length=body.max_text_length,
                allow_private=allow_private,
                oauth_fields=service.OAuthFields(
                    refresh_token=login.session.refresh_token,
                    expires_in=login.session.expires_in,
                ),
                login=AppLogin(identifier, body.token, login.did),
                now=ctx.clock(),
            )
            return CredentialOut.of(credential)


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
