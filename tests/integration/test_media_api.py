"""POST /v1/media (multipart and JSON url) and GET /v1/media/{id}[/content] over the real
ASGI app, on SQLite and PostgreSQL, with the directory blob store in the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.api.media import MULTIPART_ENVELOPE
from publisher.core.models import Media
from publisher.core.settings import Settings
from tests.support.media_files import GIF, MP4, PNG, sized

AUTH = {"Authorization": "Bearer test-key"}
MAX = 64 * 1024  # a small PUBLISHER_MEDIA_MAX_BYTES, so over-limit bodies stay small


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(replace(settings, media_max_bytes=MAX), sessions=sessions)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


def _upload(client: TestClient, content: bytes, **fields: str) -> Any:
    return client.post("/v1/media", files={"file": ("cat.png", content)}, data=fields)


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Media)) or 0)


def test_an_upload_is_stored_and_served_back(client: TestClient, settings: Settings) -> None:
    # Given a GIF uploaded under a misleading name, with alt text and an account
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    content = sized(GIF, 3000)
    created = _upload(client, content, alt="a dancing cat", account_id=str(account))
    # Then its type comes from its bytes, and its bytes come back unchanged
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["type"] == "gif"
    assert body["content_type"] == "image/gif"
    assert body["size"] == 3000
    assert body["alt"] == "a dancing cat"
    assert body["account_id"] == account
    assert body["source"] == "upload"
    assert body["filename"] == "cat.gif"
    assert client.get(f"/v1/media/{body['id']}").json() == body
    served = client.get(f"/v1/media/{body['id']}/content")
    assert served.status_code == 200
    assert served.content == content
    assert served.headers["content-type"] == "image/gif"
    # And the file sits in the data directory's media store
    assert any(p.is_file() for p in (settings.data_dir / "media").rglob("*"))


def test_a_url_is_recorded_without_fetching(client: TestClient) -> None:
    created = client.post("/v1/media", json={"url": "https://cdn.example/cat.mp4", "alt": "a cat"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["source"], body["url"], body["type"], body["size"]) == (
        "url",
        "https://cdn.example/cat.mp4",
        None,
        None,
    )
    served = client.get(f"/v1/media/{body['id']}/content")
    assert served.status_code == 404
    assert "url" in served.json()["message"]


@pytest.mark.parametrize(
    ("request_args", "status", "field"),
    [
        ({"files": {"file": ("a.png", b"hello, not an image")}}, 422, "file"),
        ({"files": {"file": ("a.png", b"")}}, 422, "file"),
        ({"files": {"other": ("a.png", PNG)}}, 422, "file"),
        ({"files": {"file": ("a.png", PNG)}, "data": {"account_id": "x1"}}, 422, "account_id"),
        ({"files": {"file": ("a.png", PNG)}, "data": {"account_id": "999"}}, 404, "account_id"),
        ({"files": {"file": ("a.png", PNG)}, "data": {"alt": "a" * 10_001}}, 422, "alt"),
        ({"files": {"file": ("a.png", PNG)}, "data": {"alt": "nul\x00"}}, 422, "alt"),
        ({"files": {"file": ("a.png", sized(MP4, MAX + 1))}}, 422, "file"),
        ({"json": {"url": "ftp://cdn.example/a.png"}}, 422, "url"),
        ({"json": {"url": "https://169.254.169.254/latest"}}, 422, "url"),
        ({"json": {"url": "https://cdn.example/a.png", "extra": 1}}, 422, "extra"),
        ({"json": {"alt": "no url"}}, 422, "url"),
        ({"json": ["not", "an", "object"]}, 422, "body"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422, "body"),
        ({"content": b"raw", "headers": {"Content-Type": "image/png"}}, 415, None),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(
    client: TestClient,
    sessions: sessionmaker[Session],
    request_args: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    response = client.post("/v1/media", **request_args)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"]
    if field is not None:
        assert body["field"] == field
    assert _count(sessions) == 0  # nothing recorded


@pytest.mark.parametrize(
    ("url", "problem"),
    [("https://127.0.0.1/a.png", "private"), ("http://cdn.example/a.png", "https")],
)
def test_private_and_plain_http_urls_are_refused_unless_private_is_allowed(
    settings: Settings, sessions: sessionmaker[Session], url: str, problem: str
) -> None:
    # Plain http is for the embedded mode's local servers (allow_private_urls) only.
    strict = replace(settings, allow_private_urls=False)
    with TestClient(create_app(strict, sessions=sessions), headers=AUTH) as client:
        refused = client.post("/v1/media", json={"url": url})
    assert refused.status_code == 422
    assert refused.json()["field"] == "url"
    assert problem in refused.json()["message"]


def test_a_body_over_the_upload_bound_is_refused_with_413(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a body past the media bound plus the multipart envelope
    content = sized(PNG, MAX + MULTIPART_ENVELOPE + 1)
    # Then it is refused before it is read, declared length or streamed
    declared = _upload(client, content)
    assert declared.status_code == 413
    assert declared.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        for _ in range(4):
            yield content[: len(content) // 3]

    streamed = client.post(
        "/v1/media",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413
    assert _count(sessions) == 0


def test_the_upload_bound_is_the_media_routes_alone(client: TestClient) -> None:
    # A body over the API's ordinary bound (1 MB) is refused on every other route.
    settings_bound = 1_000_000
    big = client.post(
        "/v1/accounts",
        content=b" " * (settings_bound + 1),
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413


def test_unknown_media_is_404(client: TestClient) -> None:
    assert client.get("/v1/media/12345").status_code == 404
    assert client.get("/v1/media/12345/content").status_code == 404


def test_media_routes_need_the_api_key(settings: Settings, sessions: sessionmaker[Session]) -> None:
    app = create_app(settings, sessions=sessions)
    with TestClient(app, base_url="http://203.0.113.9") as anonymous:
        assert anonymous.post("/v1/media", json={"url": "https://a.example/x"}).status_code == 401
        assert anonymous.get("/v1/media/1/content").status_code == 401


def test_the_openapi_document_describes_both_upload_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/media"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
