"""Connecting a Bluesky account over HTTP with a handle and an app password: publisher
logs in at the sandbox's PDS itself (createSession), stores the session, the DID and the
app password encrypted, and answers every failure with a JSON error, storing nothing.
The app password never appears in an answer. A post's media are checked against
Bluesky's limits when it is created."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.models import Credential
from publisher.core.settings import Settings
from publisher.core.tokens import TokenBox, token_box
from publisher.ops import watchdog
from publisher.providers.bluesky_record import account_did
from publisher.sandbox import Sandbox
from tests.conftest import SQLITE_ONLY
from tests.integration.test_api import client as client  # the API client fixture
from tests.support.media_files import GIF, MP4, PNG, sized

pytestmark = [pytest.mark.integration, SQLITE_ONLY]

PASSWORD = "canary-pass-word-1234"  # an app password's shape: four groups


@pytest.fixture
def pds() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def _connect(client: TestClient, pds_url: str, handle: str, **extra: Any) -> Any:
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    body = {"provider": "bluesky", "base_url": pds_url, "identifier": handle}
    return client.post(
        f"/v1/accounts/{account}/credentials", json=body | {"token": PASSWORD} | extra
    )


def _stored(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Credential)) or 0


def test_a_login_stores_the_session_did_and_app_password_encrypted(
    client: TestClient, pds: Sandbox, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    # When the main app connects an account by handle and app password
    created = _connect(client, pds.url, "@Alice.Test")
    # Then publisher logged in itself and answers the credential, never the password
    assert created.status_code == 201, created.text
    body = created.json()
    assert PASSWORD not in created.text
    assert (body["identifier"], body["refreshable"], body["valid"]) == ("alice.test", True, True)
    assert body["did"].startswith("did:plc:") and body["expires_at"] is not None
    assert body["token_url"] == pds.url + "/xrpc/com.atproto.server.refreshSession"
    logins = [c for c in pds.calls if c.path.endswith("createSession")]
    assert [c.status for c in logins] == [200]
    # And the session and the app password are stored encrypted, the DID in the clear
    box = token_box(settings)
    with sessions() as session:
        row = session.get(Credential, body["id"])
        assert row is not None and row.app_password_encrypted and row.refresh_token_encrypted
        assert PASSWORD not in row.app_password_encrypted + row.token_encrypted
        assert box.decrypt(row.app_password_encrypted) == PASSWORD
        assert account_did(box.decrypt(row.token_encrypted)) == body["did"] == row.did
    assert PASSWORD not in client.get(f"/v1/credentials/{body['id']}").text


@pytest.mark.parametrize(
    ("identifier", "status", "field", "error"),
    [
        ("takedown.test", 422, "identifier", "invalid"),  # 400 AccountTakedown
        ("throttled.test", 429, None, "provider_rate_limited"),  # 429 with RateLimit-*
        ("not a handle", 422, "identifier", "invalid"),  # refused before any call
    ],
)
def test_a_refused_login_stores_nothing(
    client: TestClient,
    pds: Sandbox,
    sessions: sessionmaker[Session],
    identifier: str,
    status: int,
    field: str | None,
    error: str,
) -> None:
    refused = _connect(client, pds.url, identifier)
    assert (refused.status_code, refused.json().get("field")) == (status, field), refused.text
    assert refused.json()["error"] == error and PASSWORD not in refused.text
    if status == 429:
        assert int(refused.headers["Retry-After"]) >= 1
    assert _stored(sessions) == 0


def test_a_wrong_app_password_is_a_422_naming_the_token(
    client: TestClient, pds: Sandbox, sessions: sessionmaker[Session]
) -> None:
    # Given a PDS that refuses this app password (401 AuthenticationRequired)
    pds.invalid_tokens.add(PASSWORD)
    refused = _connect(client, pds.url, "alice.test")
    assert (refused.status_code, refused.json()["field"]) == (422, "token"), refused.text
    assert "AuthenticationRequired" in refused.json()["message"]
    assert PASSWORD not in refused.text
    assert _stored(sessions) == 0


def test_an_unreachable_pds_is_a_502_and_stores_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a PDS address where nothing listens
    refused = _connect(client, "http://127.0.0.1:9", "alice.test")
    assert refused.status_code == 502, refused.text
    assert refused.json()["error"] == "provider_unavailable" and PASSWORD not in refused.text
    assert _stored(sessions) == 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"refresh_token": "r"}, "refresh_token"),  # publisher logs in itself
        ({"identifier": None}, "identifier"),  # a Bluesky login needs one
        ({"token": "pass word"}, "token"),  # not sent: no header-safe password has spaces
        ({"base_url": "http://169.254.169.254"}, "base_url"),  # a metadata address
    ],
)
def test_fields_that_do_not_fit_a_login_are_refused(
    client: TestClient, pds: Sandbox, extra: dict[str, Any], field: str
) -> None:
    refused = _connect(client, pds.url, "alice.test", **extra)
    assert (refused.status_code, refused.json()["field"]) == (422, field), refused.text
    assert not [c for c in pds.calls if c.path.endswith("createSession")]


def test_another_provider_takes_no_identifier(client: TestClient) -> None:
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    body = {"provider": "x", "base_url": "https://api.x.com", "token": "t", "identifier": "a.b"}
    refused = client.post(f"/v1/accounts/{account}/credentials", json=body)
    assert (refused.status_code, refused.json()["field"]) == (422, "identifier"), refused.text


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ([sized(PNG, 1_000_001)], "media[0]"),  # over 1,000,000 bytes
        ([GIF], "media[0]"),  # would show as a still: refused
        ([MP4], "media[0]"),  # video: not served yet
        ([PNG] * 5, "media"),  # at most 4
    ],
)
def test_media_beyond_blueskys_limits_are_refused_at_creation(
    client: TestClient, pds: Sandbox, files: list[bytes], field: str
) -> None:
    created = _connect(client, pds.url, "alice.test").json()
    ids = [client.post("/v1/media", files={"file": ("f", f)}).json()["id"] for f in files]
    post = {"account_id": created["account_id"], "credential_id": created["id"], "text": "hi"}
    refused = client.post("/v1/posts", json=post | {"media": [{"id": i} for i in ids]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"].startswith(field), refused.json()
    image = client.post("/v1/media", files={"file": ("f", sized(PNG, 1_000_000))}).json()
    accepted = client.post("/v1/posts", json=post | {"media": [{"id": image["id"]}] * 4})
    assert accepted.status_code == 201, accepted.text


def test_a_new_app_password_logs_in_again_and_replaces_the_session(
    client: TestClient, pds: Sandbox, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    # Given a connected account whose session publisher holds
    created = _connect(client, pds.url, "alice.test").json()
    with sessions() as session:
        before = session.get(Credential, created["id"])
        assert before is not None
        old_token = before.token_encrypted
    url = f"/v1/credentials/{created['id']}/token"
    # When the main app sends a wrong new app password, nothing changes
    pds.invalid_tokens.add("wron-gpas-swor-d123")
    refused = client.put(url, json={"token": "wron-gpas-swor-d123"})
    assert (refused.status_code, refused.json()["field"]) == (422, "token"), refused.text
    # And when it sends a good one, publisher logs in again with the kept handle
    new_password = "newp-assw-ord0-4567"
    replaced = client.put(url, json={"token": new_password})
    assert replaced.status_code == 200, replaced.text
    assert new_password not in replaced.text and replaced.json()["did"] == created["did"]
    box = token_box(settings)
    with sessions() as session:
        row = session.get(Credential, created["id"])
        assert row is not None and row.app_password_encrypted is not None
        assert row.token_encrypted != old_token
        assert box.decrypt(row.app_password_encrypted) == new_password
        assert account_did(box.decrypt(row.token_encrypted)) == created["did"]
    logins = [c.status for c in pds.calls if c.path.endswith("createSession")]
    assert logins == [200, 401, 200]


def test_the_app_password_is_rotated_and_watched_like_a_token(
    client: TestClient, pds: Sandbox, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    # Given a connected account whose secrets are under the old key
    credential = _connect(client, pds.url, "alice.test").json()["id"]
    old, new = settings.secret_keys[0], Fernet.generate_key().decode()
    # Then a key that cannot read its app password makes it undecryptable
    with sessions.begin() as session:
        row = session.get(Credential, credential)
        assert row is not None and row.app_password_encrypted is not None
        row.app_password_encrypted = TokenBox((new,)).encrypt(PASSWORD)
        assert watchdog._undecryptable(session, TokenBox((old,))) == [credential]
    # And rotating the keys moves it to the new key with the others
    with sessions.begin() as session:
        assert service.rotate_tokens(session, TokenBox((old, new))) == 1
        row = session.get(Credential, credential)
        assert row is not None and row.app_password_encrypted is not None
        assert TokenBox((old,)).decrypt(row.app_password_encrypted) == PASSWORD
        assert watchdog._undecryptable(session, TokenBox((old,))) == []
