"""Telegram and Discord over HTTP: a credential is taken (a wrong destination refused
naming ``base_url``), a text over the network's limit, or over Telegram's caption limit
with media, is refused at creation with a 422 naming the problem; media are taken."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.core.settings import Settings
from tests.conftest import SQLITE_ONLY
from tests.support.media_files import PNG

pytestmark = [pytest.mark.integration, SQLITE_ONLY]

AUTH = {"Authorization": "Bearer test-key"}
DESTINATIONS = {
    "telegram": "https://api.telegram.org/@news",
    "discord": "https://discord.com/api/webhooks/123",
}
LIMITS = {"telegram": 4096, "discord": 2000}


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(settings, sessions=sessions)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


def _credential(client: TestClient, provider: str) -> tuple[int, int]:
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    body = {"provider": provider, "base_url": DESTINATIONS[provider], "token": "123:secret"}
    created = client.post(f"/v1/accounts/{account}/credentials", json=body)
    assert created.status_code == 201, created.text
    assert "123:secret" not in created.text
    return account, created.json()["id"]


@pytest.mark.parametrize("provider", sorted(DESTINATIONS))
def test_text_over_the_limit_is_refused_naming_it(client: TestClient, provider: str) -> None:
    account, credential = _credential(client, provider)
    post = {"account_id": account, "credential_id": credential}
    # An emoji is two UTF-16 code units: at the limit in code points, over it in units.
    text = "😀" * (LIMITS[provider] // 2) + "x"
    refused = client.post("/v1/posts", json=post | {"text": text})
    assert refused.status_code == 422
    assert refused.json()["field"] == "text"
    assert "UTF-16" in refused.json()["message"]
    assert client.post("/v1/posts", json=post | {"text": text[:-1]}).status_code == 201


@pytest.mark.parametrize("provider", sorted(DESTINATIONS))
def test_media_are_taken_and_a_telegram_caption_is_held_to_1024(
    client: TestClient, provider: str
) -> None:
    account, credential = _credential(client, provider)
    upload = client.post("/v1/media", files={"file": ("cat.png", PNG)}, data={"alt": "A cat"})
    assert upload.status_code == 201, upload.text
    post = {"account_id": account, "credential_id": credential}
    media = [{"id": upload.json()["id"]}]
    # An emoji is two UTF-16 code units: 1,025 of them with media, where a caption ends.
    long_text = "😀" * 512 + "x"
    answer = client.post("/v1/posts", json=post | {"text": long_text, "media": media})
    if provider == "telegram":
        assert answer.status_code == 422
        assert answer.json()["field"] == "text"
        assert "1024 with media" in answer.json()["message"]
        parts = [{"text": "first"}, {"text": long_text, "media": media}]
        refused = client.post("/v1/posts", json=post | {"parts": parts})
        assert (refused.status_code, refused.json()["field"]) == (422, "parts[1].text")
        assert client.post("/v1/posts", json=post | {"text": long_text}).status_code == 201
    else:
        assert answer.status_code == 201, answer.text
    assert client.post("/v1/posts", json=post | {"text": "ok", "media": media}).status_code == 201


@pytest.mark.parametrize(
    ("provider", "base_url"),
    [
        ("telegram", "https://api.telegram.org"),  # no chat
        ("telegram", "https://api.telegram.org/bot123:secret/@news"),  # the token in it
        ("discord", "https://discord.com/api/webhooks/123/secret"),  # the token in it
        ("discord", "https://example.com/hook"),  # not a Discord webhook
    ],
)
def test_a_wrong_destination_is_refused_at_connect(
    client: TestClient, provider: str, base_url: str
) -> None:
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    body = {"provider": provider, "base_url": base_url, "token": "123:secret"}
    refused = client.post(f"/v1/accounts/{account}/credentials", json=body)
    assert refused.status_code == 422
    assert refused.json()["field"] == "base_url"
    assert "secret" not in refused.text
