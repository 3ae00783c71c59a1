"""Logging in to Bluesky, as pure values: createSession's answers read into a session or
a refusal, and the identifiers a Bluesky credential accepts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from publisher.core.service.logins import check_identifier
from publisher.errors import InvalidInput
from publisher.providers.bluesky_session import Login, prepare_create, read_login
from publisher.providers.oauth2 import Rejected, Transient
from tests.unit.test_bluesky import DID, jwt

ACCESS = jwt({"sub": DID, "iat": time.time(), "exp": time.time() + 7200})


def test_a_login_sends_the_identifier_and_password_in_the_body_only() -> None:
    call = prepare_create("https://pds.example/", "alice.test", "app-pass")
    assert call.url == "https://pds.example/xrpc/com.atproto.server.createSession"
    assert call.json == {"identifier": "alice.test", "password": "app-pass"}
    assert "app-pass" not in str(call.headers) + call.url


def test_a_session_is_read_with_its_did_and_lifetime() -> None:
    body = {"accessJwt": ACCESS, "refreshJwt": "refresh", "did": DID, "handle": "alice.test"}
    login = read_login(200, body)
    assert isinstance(login, Login) and login.did == DID
    assert login.session.refresh_token == "refresh"
    assert login.session.expires_in is not None and 7199 <= login.session.expires_in <= 7201


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"accessJwt": ACCESS, "refreshJwt": "r"}, Transient),  # no did
        (200, {"accessJwt": ACCESS, "did": "alice"}, Transient),  # not a DID
        (401, {"error": "AuthenticationRequired", "message": "Invalid password"}, Rejected),
        (400, {"error": "AccountTakedown", "message": "taken down"}, Rejected),
        (429, {"error": "RateLimitExceeded"}, Transient),
        (500, {"error": "InternalServerError"}, Transient),
        (None, None, Transient),  # no answer
    ],
)
def test_each_answer_is_read(status: int | None, body: Any, expected: type) -> None:
    assert isinstance(read_login(status, body, "timeout"), expected)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("alice.bsky.social", "alice.bsky.social"),
        ("@Alice.Bsky.Social", "alice.bsky.social"),  # as people write it
        ("did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"),
        ("did:web:example.com", "did:web:example.com"),
    ],
)
def test_a_handle_or_did_is_taken(given: str, kept: str) -> None:
    assert check_identifier("bluesky", given) == kept


@pytest.mark.parametrize(
    ("provider", "given"),
    [
        ("bluesky", None),
        ("bluesky", "alice"),  # a handle is a domain name
        ("bluesky", "alice bsky.social"),
        ("bluesky", "did:PLC:x"),
        ("bluesky", "a." * 130 + "com"),  # over 253 characters
        ("x", "alice.test"),  # another provider takes none
    ],
)
def test_anything_else_is_refused_naming_identifier(provider: str, given: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_identifier(provider, given)
    assert refused.value.field == "identifier"
