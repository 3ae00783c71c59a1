"""Mastodon's and X's media calls (``base.MediaUploader``): the requests built and the
answers read, as data; and the upload-only rows of their error tables."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.providers import x_media
from publisher.providers.base import Category, MediaFile, MediaUploader, ProviderError, Uploaded
from publisher.providers.base import match_rule as match
from publisher.providers.mastodon import ERROR_TABLE as MASTODON_ERRORS
from publisher.providers.mastodon_media import UPLOADER as MASTODON
from publisher.providers.x import ERROR_TABLE as X_ERRORS
from publisher.providers.x_media import UPLOADER as X
from publisher.sandbox.multipart import parse
from tests.support.media_files import GIF, PNG, sized

IMAGE = MediaFile(sized(PNG, 100), "image/png", "cat.png", "image", "A cat, sitting")
VIDEO = MediaFile(b"v" * (x_media.CHUNK_BYTES * 2 + 10), "video/mp4", "clip.mp4", "video", "")


def test_the_uploaders_follow_the_protocol() -> None:
    uploaders: list[MediaUploader] = [MASTODON, X]
    assert [u.describes("image") for u in uploaders] == [False, True]
    assert [u.describes("video") for u in uploaders] == [False, False]


def test_mastodon_upload_is_multipart_file_and_description() -> None:
    call = MASTODON.prepare_upload("https://social.example/", "tok", IMAGE)
    assert (call.method, call.url) == ("POST", "https://social.example/api/v2/media")
    assert call.headers["Authorization"] == "Bearer tok"
    assert call.data is not None
    parts = parse(call.headers["Content-Type"], call.data)
    assert parts["file"].content == IMAGE.content
    assert (parts["file"].filename, parts["file"].content_type) == ("cat.png", "image/png")
    assert parts["description"].text == "A cat, sitting"


def test_mastodon_upload_without_alt_sends_no_description() -> None:
    call = MASTODON.prepare_upload("https://social.example", "tok", VIDEO)
    assert call.data is not None
    assert set(parse(call.headers["Content-Type"], call.data)) == {"file"}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"id": "22", "url": "https://files/x.png"}, Uploaded("22", ready=True)),
        (202, {"id": "22", "url": None}, Uploaded("22", ready=False, wait=2.0)),
        (200, {"id": 22, "url": None}, Uploaded("22", ready=False, wait=2.0)),
        (200, {"url": "x"}, None),
        (200, ["not", "an", "object"], None),
        (422, {"error": "Validation failed: File content type is invalid"}, None),
        (500, "oops", None),
    ],
)
def test_mastodon_upload_answers(status: int, body: Any, expected: Uploaded | None) -> None:
    assert MASTODON.parse_upload(status, body) == expected


def test_mastodon_poll_and_describe_requests() -> None:
    call = MASTODON.prepare_poll("https://social.example", "tok", "22/../x")
    assert (call.method, call.url) == ("GET", "https://social.example/api/v1/media/22%2F..%2Fx")
    described = MASTODON.prepare_describe("https://social.example", "tok", "22", "A cat")
    assert (described.method, described.url, described.json) == (
        "PUT",
        "https://social.example/api/v1/media/22",
        {"description": "A cat"},
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"id": "22", "url": "https://files/x.png"}, Uploaded("22", ready=True)),
        (206, {"id": "22", "url": None}, Uploaded("22", ready=False, wait=2.0)),
        (404, {"error": "Record not found"}, Uploaded("22", False, failed="Record not found")),
        (422, {"error": "Error processing"}, Uploaded("22", False, failed="Error processing")),
        (503, "busy", None),
        (401, {"error": "The access token is invalid"}, None),
    ],
)
def test_mastodon_poll_answers(status: int, body: Any, expected: Uploaded | None) -> None:
    assert MASTODON.parse_poll(status, body, "22") == expected


@pytest.mark.parametrize(
    ("table", "status", "category"),
    [
        (MASTODON_ERRORS, 413, Category.FORBIDDEN),
        (MASTODON_ERRORS, 415, Category.FORBIDDEN),
        (MASTODON_ERRORS, 422, Category.FORBIDDEN),
        (X_ERRORS, 413, Category.FORBIDDEN),
        (X_ERRORS, 415, Category.FORBIDDEN),
        (X_ERRORS, 400, None),
    ],
)
def test_upload_errors_are_classified(table: Any, status: int, category: Category | None) -> None:
    assert match(table, status, ProviderError("x")) == category


def test_x_upload_is_one_multipart_call_with_its_category() -> None:
    call = X.prepare_upload("https://api.x.com", "tok", IMAGE)
    assert (call.method, call.url) == ("POST", "https://api.x.com/2/media/upload")
    assert call.data is not None
    parts = parse(call.headers["Content-Type"], call.data)
    assert parts["media"].content == IMAGE.content
    assert parts["media_category"].text == "tweet_image"
    assert parts["media_type"].text == "image/png"
    assert list(X.continue_upload("https://api.x.com", "tok", IMAGE, "9")) == []


def test_x_video_is_uploaded_in_chunks_then_finalized() -> None:
    first = X.prepare_upload("https://api.x.com", "tok", VIDEO)
    assert first.url == "https://api.x.com/2/media/upload/initialize"
    assert first.json is not None and first.json["media_category"] == "tweet_video"
    rest = list(X.continue_upload("https://api.x.com", "tok", VIDEO, "9"))
    chunks = -(-len(VIDEO.content) // x_media.CHUNK_BYTES)
    assert [c.url.rsplit("/", 1)[1] for c in rest] == ["append"] * chunks + ["finalize"]


def test_x_video_can_go_in_chunks() -> None:
    assert x_media.chunked(VIDEO)
    assert not x_media.chunked(IMAGE)
    init = x_media.prepare_initialize("https://api.x.com", "tok", VIDEO)
    assert init.url == "https://api.x.com/2/media/upload/initialize"
    assert init.json == {
        "media_type": "video/mp4",
        "total_bytes": len(VIDEO.content),
        "media_category": "tweet_video",
    }
    appends = list(x_media.prepare_appends("https://api.x.com", "tok", "77", VIDEO))
    assert [c.url for c in appends] == ["https://api.x.com/2/media/upload/77/append"] * 3
    pieces = [parse(c.headers["Content-Type"], c.data or b"") for c in appends]
    assert [p["segment_index"].text for p in pieces] == ["0", "1", "2"]
    assert b"".join(p["media"].content for p in pieces) == VIDEO.content
    final = x_media.prepare_finalize("https://api.x.com", "tok", "77")
    assert (final.method, final.url) == ("POST", "https://api.x.com/2/media/upload/77/finalize")
    gif = MediaFile(GIF, "image/gif", "a.gif", "gif", "")
    assert x_media.prepare_initialize("https://api.x.com", "tok", gif).json["media_category"] == (
        "tweet_gif"
    )


def test_x_status_and_alt_text_requests() -> None:
    poll = X.prepare_poll("https://api.x.com", "tok", "77")
    assert (poll.method, poll.url) == (
        "GET",
        "https://api.x.com/2/media/upload?command=STATUS&media_id=77",
    )
    alt = X.prepare_describe("https://api.x.com", "tok", "77", "A cat")
    assert (alt.method, alt.url) == ("POST", "https://api.x.com/2/media/metadata")
    assert alt.json == {"id": "77", "metadata": {"alt_text": {"text": "A cat"}}}


FAILED = {"state": "failed", "error": {"code": 1, "message": "Unsupported video format"}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"data": {"id": "77", "media_key": "3_77"}}, Uploaded("77", ready=True)),
        (
            200,
            {"data": {"id": "77", "processing_info": {"state": "pending", "check_after_secs": 3}}},
            Uploaded("77", ready=False, wait=3.0),
        ),
        (
            200,
            {"data": {"id": "77", "processing_info": {"state": "in_progress"}}},
            Uploaded("77", ready=False, wait=5.0),
        ),
        (
            200,
            {"data": {"id": "77", "processing_info": {"state": "succeeded"}}},
            Uploaded("77", ready=True),
        ),
        (
            200,
            {"data": {"id": "77", "processing_info": FAILED}},
            Uploaded("77", ready=False, failed="Unsupported video format"),
        ),
        (200, {"data": {"media_id_string": "78"}}, Uploaded("78", ready=True)),
        (200, {"data": {}}, None),
        (200, {"errors": [{"message": "x"}]}, None),
        (400, {"title": "Invalid Request"}, None),
    ],
)
def test_x_upload_and_status_answers(status: int, body: Any, expected: Uploaded | None) -> None:
    assert X.parse_upload(status, body) == expected
    assert X.parse_poll(status, body, "77") == expected
