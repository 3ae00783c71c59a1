"""The Python API for a credential's login: the identifier and app password publisher
logs in with (Bluesky's ``createSession``), and the account's DID the login named.

The app password is kept, encrypted like the token (``core.tokens``) and never returned,
logged or put in the call log: when the PDS refuses the refresh JWT (expired after its
months of life, or revoked), publisher logs in again with it, once, before it declares
the credential invalid (``engine.refresh``). Deleting the app password at Bluesky revokes
publisher's access for good, as it should.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from publisher.core.models import DID_LENGTH, Credential
from publisher.core.service.checks import check_token
from publisher.core.tokens import TokenBox
from publisher.errors import InvalidInput

# Providers whose credential is made by a login rather than handed a token.
LOGIN_PROVIDERS = frozenset({"bluesky"})

# A handle is a domain name of at most 253 characters (https://atproto.com/specs/handle);
# a DID is ``did:method:identifier`` (https://atproto.com/specs/did).
HANDLE_LENGTH = 253
HANDLE = re.compile(
    r"([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)
DID = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")


@dataclass(frozen=True)
class AppLogin:
    """A login that succeeded: what it was made with, and the account it is for."""

    identifier: str
    password: str
    did: str


def check_identifier(provider: str, identifier: str | None) -> str:
    """The login identifier (a handle without its ``@``, or a DID); ``InvalidInput`` on
    ``identifier`` when the provider takes none, needs one, or it is neither."""
    if provider not in LOGIN_PROVIDERS:
        if identifier is not None:
            raise InvalidInput("identifier", f"{provider} credentials take no identifier")
        return ""
    if not identifier:
        raise InvalidInput("identifier", f"is required for {provider}: a handle or DID")
    given = identifier.removeprefix("@")
    if DID.fullmatch(given) and len(given) <= DID_LENGTH:
        return given
    if HANDLE.fullmatch(given) and len(given) <= HANDLE_LENGTH:
        return given.lower()
    raise InvalidInput("identifier", "must be a handle (alice.bsky.social) or a DID (did:plc:...)")


def apply(credential: Credential, box: TokenBox, login: AppLogin) -> None:
    """Keep ``login`` on the credential: the password encrypted, the DID as answered."""
    check_token(login.password)
    credential.identifier = login.identifier
    credential.app_password_encrypted = box.encrypt(login.password)
    credential.did = login.did
