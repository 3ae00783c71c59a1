"""Threads (Meta) over HTTP: a credential is taken (its token never answered), a text
over 500 characters (emoji counted as their UTF-8 bytes), an uploaded file (Meta fetches
media by public URL) and a second image are refused at creation with a 422 naming the
problem; an image given by URL and a thread of parts are accepted."""

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


def test_an_uploaded_file_is_refused_a_file_given_by_url_is_taken(
    client: TestClient, post: dict[str, int]
) -> None:
    # Meta fetches each image from a public URL; publisher serves uploads behind its key
    upload = client.post("/v1/media", files={"file": ("cat.png", PNG)})
    assert upload.status_code == 201, upload.text
    body = post | {"text": "look", "media": [{"id": upload.json()["id"]}]}
    refused = client.post("/v1/posts", json=body)
    assert refused.status_code == 422
    assert refused.json()["field"] == "media[0].id"
    assert "public URL" in refused.json()["message"]
    linked = [
        client.post("/v1/media", json={"url": f"https://cdn.example/{n}.jpg"}).json()["id"]
        for n in (1, 2)
    ]
    body = post | {"text": "look", "media": [{"id": linked[0]}]}
    assert client.post("/v1/posts", json=body).status_code == 201
    # one image per post: a carousel is not served
    two = client.post("/v1/posts", json=body | {"media": [{"id": m} for m in linked]})
    assert two.status_code == 422 and two.json()["field"] == "media"


def test_a_thread_of_parts_is_accepted(client: TestClient, post: dict[str, int]) -> None:
    parts = [{"text": "one"}, {"text": "two"}, {"text": "three"}]
    created = client.post("/v1/posts", json=post | {"parts": parts})
    assert created.status_code == 201, created.text
