"""Threads (Meta) over HTTP: a credential is taken (its token never answered), a text
over 500 characters (emoji counted as their UTF-8 bytes) and any media are refused at
creation with a 422 naming the problem, and a thread of parts is accepted."""

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
ROOT = "https://graph.threads.net/v1.0"


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(settings, sessions=sessions)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def post(client: TestClient) -> dict[str, int]:
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    body = {"provider": "threads", "base_url": ROOT, "token": "THQ-secret"}
    created = client.post(f"/v1/accounts/{account}/credentials", json=body)
    assert created.status_code == 201, created.text
    assert "THQ-secret" not in created.text
    return {"account_id": account, "credential_id": created.json()["id"]}


def test_text_over_500_is_refused_counting_emoji_as_their_bytes(
    client: TestClient, post: dict[str, int]
) -> None:
    # 124 four-byte emoji are 496; five letters make 501
    text = "😀" * 124 + "abcde"
    refused = client.post("/v1/posts", json=post | {"text": text})
    assert refused.status_code == 422
    assert refused.json()["field"] == "text"
    assert "500" in refused.json()["message"]
    assert client.post("/v1/posts", json=post | {"text": text[:-1]}).status_code == 201


def test_media_are_refused_at_creation(client: TestClient, post: dict[str, int]) -> None:
    upload = client.post("/v1/media", files={"file": ("cat.png", PNG)})
    assert upload.status_code == 201, upload.text
    refused = client.post(
        "/v1/posts", json=post | {"text": "look", "media": [{"id": upload.json()["id"]}]}
    )
    assert refused.status_code == 422
    assert refused.json()["field"].startswith("media")


def test_a_thread_of_parts_is_accepted(client: TestClient, post: dict[str, int]) -> None:
    parts = [{"text": "one"}, {"text": "two"}, {"text": "three"}]
    created = client.post("/v1/posts", json=post | {"parts": parts})
    assert created.status_code == 201, created.text
