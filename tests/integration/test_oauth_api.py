"""OAuth credentials over the HTTP API (in-process ASGI client, SQLite and PostgreSQL):
the new fields, their 422s, encryption at rest, and the health a credential shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.models import Credential, utcnow
from publisher.core.service import OAuthFields
from publisher.core.settings import Settings
from publisher.core.tokens import TokenBox, token_box
from publisher.ops import watchdog
from tests.integration.test_api import client as client  # the API client fixture

BASE = {"provider": "x", "base_url": "https://api.x.example", "token": "acc-canary-1"}
OAUTH = {"refresh_token": "ref-canary-1", "client_id": "app-1", "expires_in": 7200}
SECRETS = ("acc-canary", "ref-canary", "sec-canary")


def _account(client: TestClient) -> int:
    response = client.post("/v1/accounts", json={"name": "acme"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _create(client: TestClient, **fields: Any) -> Any:
    return client.post(f"/v1/accounts/{_account(client)}/credentials", json={**BASE, **fields})


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_an_oauth_credential_shows_its_health_and_never_its_secrets(
    client: TestClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    # Given a credential with a refresh token and a confidential client
    before = utcnow()
    created = _create(client, **OAUTH, client_secret="sec-canary-1")
    assert created.status_code == 201, created.text
    body = created.json()
    # Then it shows its health and the default token endpoint, never a secret
    assert body["valid"] is True and body["refreshable"] is True
    assert body["token_url"] == "https://api.x.example/2/oauth2/token"
    assert body["client_id"] == "app-1"
    assert body["last_refreshed_at"] is None and body["last_error"] is None
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(seconds=7190) < expires < utcnow() + timedelta(seconds=7210)
    shown = client.get(f"/v1/credentials/{body['id']}")
    _no_secret(created.text + shown.text)
    # And the secrets are stored encrypted
    with sessions() as session:
        row = session.get(Credential, body["id"])
        assert row is not None and row.refresh_token_encrypted and row.client_secret_encrypted
        _no_secret(row.refresh_token_encrypted + row.client_secret_encrypted)
        box = token_box(settings)
        assert box.decrypt(row.refresh_token_encrypted) == "ref-canary-1"
        assert box.decrypt(row.client_secret_encrypted) == "sec-canary-1"
    # When the provider refuses it, the health says so
    with sessions.begin() as session:
        row = session.get(Credential, body["id"])
        assert row is not None
        row.invalid_since = utcnow()
    assert client.get(f"/v1/credentials/{body['id']}").json()["valid"] is False


def test_replacing_the_token_replaces_the_token_set_and_keeps_the_client(
    client: TestClient,
) -> None:
    credential = _create(client, **OAUTH, token_url="https://auth.x.example/token").json()
    url = f"/v1/credentials/{credential['id']}/token"
    # A new token set with its refresh token and expiry
    when = "2030-01-01T10:00:00+01:00"
    replaced = client.put(
        url, json={"token": "acc-canary-2", "refresh_token": "ref-canary-2", "expires_at": when}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["refreshable"] is True
    assert replaced.json()["expires_at"].startswith("2030-01-01T09:00:00")
    # A new token alone: no refresh token any more; the endpoint and client are kept
    plain = client.put(url, json={"token": "acc-canary-3"})
    assert plain.status_code == 200, plain.text
    shown = plain.json()
    assert (shown["refreshable"], shown["expires_at"]) == (False, None)
    assert (shown["token_url"], shown["client_id"]) == ("https://auth.x.example/token", "app-1")
    _no_secret(replaced.text + plain.text)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"refresh_token": "ref-canary-1"}, "client_id"),  # a client must identify itself
        ({**OAUTH, "expires_at": "2030-01-01T00:00:00Z"}, "expires_in"),  # not both
        ({**OAUTH, "expires_in": 0}, "expires_in"),
        ({**OAUTH, "expires_in": "soon"}, "expires_in"),
        ({**OAUTH, "expires_in": 10**12}, "expires_in"),
        ({**OAUTH, "expires_in": None, "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({**OAUTH, "token_url": "ftp://auth.example/token"}, "token_url"),
        ({**OAUTH, "token_url": "http://169.254.169.254/token"}, "token_url"),  # metadata
        ({**OAUTH, "token_url": "http://127.0.0.1/token"}, "token_url"),  # private: refused
        ({**OAUTH, "refresh_token": "ref canary"}, "refresh_token"),
        ({**OAUTH, "client_secret": "sec\ncanary"}, "client_secret"),
        ({**OAUTH, "client_id": "app 1"}, "client_id"),
        ({**OAUTH, "provider": "webhook"}, "token_url"),  # no default endpoint
        ({**OAUTH, "refresh_tokn": "typo"}, "refresh_tokn"),
    ],
)
def test_bad_oauth_fields_are_refused_naming_the_field(
    client: TestClient, settings: Settings, fields: dict[str, Any], field: str
) -> None:
    private = "127.0.0.1" in str(fields.get("token_url"))
    if private and settings.allow_private_urls:
        pytest.skip("private destinations are allowed with the embedded SQLite")
    response = _create(client, **fields)
    assert response.status_code == 422, response.text
    body = response.json()
    named = body.get("field") or [p["field"] for p in body.get("problems", [])]
    assert field in named, body
    _no_secret(response.text.replace("ref canary", "").replace("sec\\ncanary", ""))


def test_key_rotation_moves_the_refresh_token_and_client_secret_too(
    sessions: sessionmaker[Session],
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    fields = OAuthFields(refresh_token="ref-1", client_id="app-1", client_secret="sec-1")
    with sessions.begin() as session:
        account = service.create_account(session, "rot")
        credential = service.add_credential(
            session,
            TokenBox((old,)),
            account.id,
            "x",
            "https://x.example",
            "acc-1",
            oauth_fields=fields,
        ).id
    # An old key alone cannot read the refresh token: the watchdog names the credential
    with sessions() as session:
        assert watchdog._undecryptable(session, TokenBox((new,))) == [credential]
    with sessions.begin() as session:
        assert service.rotate_tokens(session, TokenBox((new, old))) == 1
    with sessions() as session:
        row = session.get(Credential, credential)
        assert row is not None and row.refresh_token_encrypted and row.client_secret_encrypted
        box = TokenBox((new,))
        assert box.decrypt(row.refresh_token_encrypted) == "ref-1"
        assert box.decrypt(row.client_secret_encrypted) == "sec-1"
        assert watchdog._undecryptable(session, box) == []


def test_the_openapi_page_shows_the_oauth_fields_with_examples(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("CredentialIn", "TokenIn"):
        fields = schemas[name]["properties"]
        for field in ("refresh_token", "expires_at", "expires_in", "token_url", "client_id"):
            assert field in fields, (name, field)
        assert fields["expires_in"]["examples"] == [7200]
        assert schemas[name]["examples"][0]["refresh_token"] == "REFRESH_TOKEN"
    health = schemas["CredentialOut"]["properties"]
    for field in ("valid", "refreshable", "expires_at", "last_refreshed_at", "last_error"):
        assert field in health
    assert not {"refresh_token", "client_secret", "token"} & set(health)
