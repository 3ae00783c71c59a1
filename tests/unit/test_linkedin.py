"""LinkedIn: the requests it prepares, how it reads answers (the id in a header, the
duplicate's URN), its error table row by row, its lookup, and its image uploader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.engine.classify import classify
from publisher.engine.exchange import Exchange
from publisher.errors import LookupFailed
from publisher.providers import PROVIDERS
from publisher.providers.base import (
    Category,
    MediaFile,
    PreparedCall,
    Published,
    PublishRequest,
    ReadsCreatedHeaders,
    match_rule,
)
from publisher.providers.linkedin import ERROR_TABLE, LOOKUP_LIMIT, LinkedInProvider, escape
from publisher.providers.linkedin_api import API_VERSION
from publisher.providers.linkedin_media import UPLOADER
from publisher.providers.oauth2 import default_token_url
from publisher.providers.refreshers import REFRESHERS

LINKEDIN = LinkedInProvider()
AUTHOR = "urn:li:person:abc123"
BASE = f"https://api.linkedin.example/#{AUTHOR}"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
URN = "urn:li:share:7001"


def publish_request(
    text: str = "Hello (world) #1", media_ids: tuple[str, ...] = ()
) -> PublishRequest:
    return PublishRequest(
        base_url=BASE,
        token="tok-123",
        text=text,
        options={},
        idempotency_key="post-1",
        media_ids=media_ids,
    )


def exchange(status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Exchange:
    raw = None if body is None else (body if isinstance(body, bytes) else _json(body))
    call = PreparedCall("POST", "https://api.linkedin.example/rest/posts", {})
    return Exchange(call=call, sent_body=b"{}", status=status, headers=headers or {}, body=raw)


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def duplicate_body(urn: str = URN) -> dict[str, Any]:
    return {
        "message": f"Content is a duplicate of {urn}",
        "status": 422,
        "errorDetails": {"inputErrors": [{"code": "DUPLICATE_POST", "description": "dup"}]},
    }


def error(code: str, status: int, service: int = 65600) -> dict[str, Any]:
    return {"status": status, "code": code, "serviceErrorCode": service, "message": code}


# One row per entry of ERROR_TABLE, in its order: (status, body, category).
ERROR_ROWS = [
    (422, duplicate_body(), Category.DUPLICATE),
    (401, error("EXPIRED_ACCESS_TOKEN", 401), Category.UNAUTHORIZED),
    (401, error("REVOKED_ACCESS_TOKEN", 401), Category.UNAUTHORIZED),
    (401, error("INVALID_ACCESS_TOKEN", 401), Category.UNAUTHORIZED),
    (403, error("ACCESS_DENIED", 403, 100), Category.FORBIDDEN),
    (401, {"message": "Unauthorized"}, Category.UNAUTHORIZED),
    (403, {"message": "Not enough permissions to access: POST /rest/posts"}, Category.FORBIDDEN),
    (400, {"message": "ILLEGAL_ARGUMENT", "status": 400}, Category.FORBIDDEN),
    (413, "Request Entity Too Large", Category.FORBIDDEN),
    (422, {"message": "/author :: field is required", "status": 422}, Category.FORBIDDEN),
    (426, {"message": "Requested version 202401 is not active"}, Category.UNCLASSIFIED),
    (429, {"message": "Resource level throttle limit reached"}, Category.UNAVAILABLE),
    (500, {"message": "Internal Server Error"}, Category.UNAVAILABLE),
    (502, "Bad Gateway", Category.UNAVAILABLE),
    (503, None, Category.UNAVAILABLE),
    (504, None, Category.UNAVAILABLE),
]


def test_every_table_row_has_a_test_row() -> None:
    assert len(ERROR_ROWS) == len(ERROR_TABLE)


@pytest.mark.parametrize(("status", "body", "expected"), ERROR_ROWS)
def test_error_table(status: int, body: Any, expected: Category) -> None:
    assert match_rule(ERROR_TABLE, status, LINKEDIN.parse_error(status, body)) is expected


def test_registered_with_its_refresher_and_token_url() -> None:
    assert PROVIDERS["linkedin"].threads is False
    assert "linkedin" in REFRESHERS
    token_url = default_token_url("linkedin", "https://api.linkedin.com#urn:li:person:a")
    assert token_url == "https://www.linkedin.com/oauth/v2/accessToken"


def test_prepare_names_the_version_the_author_and_escapes_little_text() -> None:
    call = LINKEDIN.prepare(publish_request())
    assert (call.method, call.url) == ("POST", "https://api.linkedin.example/rest/posts")
    assert call.headers["LinkedIn-Version"] == API_VERSION
    assert call.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert call.headers["Authorization"] == "Bearer tok-123"
    assert call.json["author"] == AUTHOR
    assert call.json["commentary"] == r"Hello \(world\) \#1"
    assert call.json["lifecycleState"] == "PUBLISHED"
    assert "content" not in call.json


@pytest.mark.parametrize(
    ("media_ids", "content"),
    [
        (("urn:li:image:1",), {"media": {"id": "urn:li:image:1"}}),
        (
            ("urn:li:image:1", "urn:li:image:2"),
            {"multiImage": {"images": [{"id": "urn:li:image:1"}, {"id": "urn:li:image:2"}]}},
        ),
    ],
)
def test_prepare_attaches_images(media_ids: tuple[str, ...], content: Any) -> None:
    assert LINKEDIN.prepare(publish_request(media_ids=media_ids)).json["content"] == content


def test_alt_texts_go_with_their_images() -> None:
    request = PublishRequest(
        BASE,
        "tok",
        "two",
        {},
        "k",
        media_ids=("urn:li:image:1", "urn:li:image:2"),
        media=({"id": 7, "alt": "a cat"}, {"id": 8, "alt": ""}),
    )
    images = LINKEDIN.prepare(request).json["content"]["multiImage"]["images"]
    assert images == [{"id": "urn:li:image:1", "altText": "a cat"}, {"id": "urn:li:image:2"}]


@pytest.mark.parametrize(("text", "length"), [("a" * 3000, 3000), ("(a)", 5), ("日本 👍", 4)])
def test_text_is_measured_as_sent(text: str, length: int) -> None:
    rule = LINKEDIN.text_rule
    assert (rule.measure(text, {}), rule.limit) == (length, 3000)


def test_escape_covers_every_markup_character() -> None:
    assert escape("a|{}@[]()<>#\\*_~b") == "a" + "".join("\\" + c for c in "|{}@[]()<>#\\*_~") + "b"


def test_the_created_id_comes_from_the_header() -> None:
    assert isinstance(LINKEDIN, ReadsCreatedHeaders)
    outcome = classify(LINKEDIN, exchange(201, headers={"X-RestLi-Id": URN}), NOW)
    assert outcome.category is Category.SUCCESS
    assert outcome.published == Published(URN, f"https://www.linkedin.com/feed/update/{URN}/")


def test_a_201_without_the_header_is_unreadable_and_ambiguous() -> None:
    outcome = classify(LINKEDIN, exchange(201), NOW)
    assert (outcome.category, outcome.ambiguous) == (Category.UNCLASSIFIED, True)


def test_a_duplicate_names_the_existing_post() -> None:
    outcome = classify(LINKEDIN, exchange(422, duplicate_body()), NOW)
    assert outcome.category is Category.DUPLICATE
    assert outcome.published is not None and outcome.published.external_id == URN


def test_a_429_without_retry_after_is_rate_limited_with_no_provider_time() -> None:
    outcome = classify(LINKEDIN, exchange(429, {"status": 429}), NOW)
    assert (outcome.category, outcome.rate_limited, outcome.not_before) == (
        Category.UNAVAILABLE,
        True,
        None,
    )


# --- lookup ------------------------------------------------------------------------------


def post(text: str, created: datetime, urn: str = URN) -> dict[str, Any]:
    return {"id": urn, "commentary": escape(text), "createdAt": int(created.timestamp() * 1000)}


def answering(page: Any) -> Any:
    seen: list[tuple[str, Mapping[str, str]]] = []

    def get_json(url: str, headers: Mapping[str, str]) -> Any:
        seen.append((url, headers))
        return page

    get_json.seen = seen  # type: ignore[attr-defined]
    return get_json


def test_lookup_finds_the_post_by_its_escaped_text_since_the_attempt() -> None:
    since = NOW - timedelta(minutes=1)
    page = {
        "elements": [
            post("Hello (world) #1", NOW, "urn:li:share:3"),
            post("something else", NOW, "urn:li:share:2"),
            post("Hello (world) #1", NOW - timedelta(days=2), "urn:li:share:1"),
        ]
    }
    get_json = answering(page)
    found = LINKEDIN.lookup(get_json, publish_request(), since)
    assert [p.external_id for p in found] == ["urn:li:share:3"]
    url, headers = get_json.seen[0]
    assert "q=author" in url and "author=urn%3Ali%3Aperson%3Aabc123" in url
    assert headers["X-RestLi-Method"] == "FINDER"


def test_lookup_cannot_tell_when_a_full_page_is_all_newer() -> None:
    page = {"elements": [post("other", NOW, f"urn:li:share:{i}") for i in range(LOOKUP_LIMIT)]}
    with pytest.raises(LookupFailed):
        LINKEDIN.lookup(answering(page), publish_request(), NOW - timedelta(minutes=1))


def test_lookup_raises_on_a_wrong_shape() -> None:
    with pytest.raises(LookupFailed):
        LINKEDIN.lookup(answering({"nope": 1}), publish_request(), NOW)


# --- images ------------------------------------------------------------------------------

IMAGE = MediaFile(b"\x89PNG...", "image/png", "a.png", "image", None)


def test_upload_initializes_then_puts_then_reads_the_status() -> None:
    init = UPLOADER.prepare_upload(BASE, "tok", IMAGE)
    assert init.url == "https://api.linkedin.example/rest/images?action=initializeUpload"
    assert init.json == {"initializeUploadRequest": {"owner": AUTHOR}}
    upload_url = "https://www.linkedin.com/dms-uploads/abc"
    answer = {"value": {"image": "urn:li:image:9", "uploadUrl": upload_url}}
    started = UPLOADER.parse_upload(200, answer)
    assert started is not None and not started.ready
    put, status = list(UPLOADER.continue_upload(BASE, "tok", IMAGE, started.media_id))
    assert (put.method, put.url, put.data) == ("PUT", upload_url, IMAGE.content)
    assert put.headers["Authorization"] == "Bearer tok"
    assert status.url == "https://api.linkedin.example/rest/images/urn%3Ali%3Aimage%3A9"
    ready = UPLOADER.parse_upload(200, {"id": "urn:li:image:9", "status": "AVAILABLE"})
    assert ready is not None and (ready.media_id, ready.ready) == ("urn:li:image:9", True)


def test_the_token_never_goes_to_a_foreign_upload_host() -> None:
    media_id = "urn:li:image:9 https://evil.example/upload"
    put, _ = list(UPLOADER.continue_upload(BASE, "tok", IMAGE, media_id))
    assert "Authorization" not in put.headers


@pytest.mark.parametrize(
    ("state", "ready", "failed"),
    [("AVAILABLE", True, False), ("PROCESSING", False, False), ("PROCESSING_FAILED", False, True)],
)
def test_poll_reads_the_image_status(state: str, ready: bool, failed: bool) -> None:
    got = UPLOADER.parse_poll(200, {"id": "urn:li:image:9", "status": state}, "urn:li:image:9")
    assert got is not None and got.ready is ready and (got.failed is not None) is failed
