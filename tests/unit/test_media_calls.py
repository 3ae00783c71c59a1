"""Mastodon's and X's media calls: the requests built and the answers read, as data."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.providers import x_media
from publisher.providers.base import Category, ProviderError, match_rule
from publisher.providers.mastodon_media import (
    UPLOAD_ERROR_TABLE as MASTODON_ERRORS,
)
from publisher.providers.mastodon_media import (
    parse_poll as mastodon_poll,
)
from publisher.providers.mastodon_media import (
    parse_upload as mastodon_upload,
)
from publisher.providers.mastodon_media import (
    prepare_poll as mastodon_prepare_poll,
)
from publisher.providers.mastodon_media import (
    prepare_upload as mastodon_prepare_upload,
)
from publisher.providers.media_file import MediaFile
from publisher.providers.media_rule import Kind
from publisher.providers.media_upload import Processing, Uploaded
from publisher.sandbox.multipart import parse
from tests.support.media_files import GIF, PNG, sized

IMAGE = MediaFile(sized(PNG, 100), "image/png", "cat.png", Kind.IMAGE, "A cat, sitting")
VIDEO = MediaFile(b"v" * (x_media.CHUNK_BYTES * 2 + 10), "video/mp4", "clip.mp4", Kind.VIDEO, "")


def test_mastodon_upload_is_multipart_file_and_description() -> None:
    call = mastodon_prepare_upload("https://social.example/", "tok", IMAGE)
    assert (call.method, call.url) == ("POST", "https://social.example/api/v2/media")
    assert call.headers["Authorization"] == "Bearer tok"
    assert call.data is not None
    parts = parse(call.headers["Content-Type"], call.data)
    assert parts["file"].content == IMAGE.content
    assert (parts["file"].filename, parts["file"].content_type) == ("cat.png", "image/png")
    assert parts["description"].text == "A cat, sitting"


def test_mastodon_upload_without_alt_sends_no_description() -> None:
    call = mastodon_prepare_upload("https://social.example", "tok", VIDEO)
    assert call.data is not None
    assert set(parse(call.headers["Content-Type"], call.data)) == {"file"}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"id": "22", "url": "https://files/x.png"}, Uploaded("22", Processing.READY)),
        (202, {"id": "22", "url": None}, Uploaded("22", Processing.PROCESSING, 2.0)),
        (200, {"id": 22, "url": None}, Uploaded("22", Processing.PROCESSING, 2.0)),
        (200, {"url": "x"}, None),
        (200, ["not", "an", "object"], None),
        (422, {"error": "Validation failed: File content type is invalid"}, None),
        (500, "oops", None),
    ],
)
def test_mastodon_upload_answers(status: int, body: Any, expected: Uploaded | None) -> None:
    assert mastodon_upload(status, body) == expected


def test_mastodon_poll_request() -> None:
    call = mastodon_prepare_poll("https://social.example", "tok", "22/../x")
    assert (call.method, call.url) == ("GET", "https://social.example/api/v1/media/22%2F..%2Fx")


@pytest.mark.parametrize(
    ("status", "body", "state"),
    [
        (200, {"id": "22", "url": "https://files/x.png"}, Processing.READY),
        (206, {"id": "22", "url": None}, Processing.PROCESSING),
        (404, {"error": "Record not found"}, Processing.FAILED),
        (422, {"error": "Error processing thumbnail for uploaded media"}, Processing.FAILED),
        (503, "busy", None),
        (401, {"error": "The access token is invalid"}, None),
    ],
)
def test_mastodon_poll_answers(status: int, body: Any, state: Processing | None) -> None:
    found = mastodon_poll(status, body, "22")
    assert (found.state if found else None) == state
    if found is not None:
        assert found.media_id == "22"


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (413, Category.FORBIDDEN),
        (415, Category.FORBIDDEN),
        (422, Category.FORBIDDEN),
        (401, Category.UNAUTHORIZED),
        (429, Category.UNAVAILABLE),
        (503, Category.UNAVAILABLE),
    ],
)
def test_mastodon_upload_errors_are_classified(status: int, category: Category) -> None:
    assert match_rule(MASTODON_ERRORS, status, ProviderError("x")) == category


def test_x_image_upload_is_one_multipart_call() -> None:
    assert not x_media.chunked(IMAGE)
    call = x_media.prepare_upload("https://api.x.com", "tok", IMAGE)
    assert (call.method, call.url) == ("POST", "https://api.x.com/2/media/upload")
    assert call.data is not None
    parts = parse(call.headers["Content-Type"], call.data)
    assert parts["media"].content == IMAGE.content
    assert parts["media_category"].text == "tweet_image"
    assert parts["media_type"].text == "image/png"


def test_x_video_is_uploaded_in_chunks() -> None:
    assert x_media.chunked(VIDEO)
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


def test_x_gif_goes_in_chunks_as_tweet_gif() -> None:
    gif = MediaFile(GIF, "image/gif", "a.gif", Kind.GIF, "")
    assert x_media.chunked(gif)
    call = x_media.prepare_initialize("https://api.x.com", "tok", gif)
    assert call.json["media_category"] == "tweet_gif"


def test_x_status_and_alt_text_requests() -> None:
    poll = x_media.prepare_poll("https://api.x.com", "tok", "77")
    assert (poll.method, poll.url) == (
        "GET",
        "https://api.x.com/2/media/upload?command=STATUS&media_id=77",
    )
    alt = x_media.prepare_alt_text("https://api.x.com", "tok", "77", "A cat")
    assert (alt.method, alt.url) == ("POST", "https://api.x.com/2/media/metadata")
    assert alt.json == {"id": "77", "metadata": {"alt_text": {"text": "A cat"}}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"data": {"id": "77", "media_key": "3_77"}}, Uploaded("77", Processing.READY)),
        (
            200,
            {"data": {"id": "77", "processing_info": {"state": "pending", "check_after_secs": 3}}},
            Uploaded("77", Processing.PROCESSING, 3.0),
        ),
        (
            200,
            {"data": {"id": "77", "processing_info": {"state": "in_progress"}}},
            Uploaded("77", Processing.PROCESSING, 5.0),
        ),
        (
            200,
            {"data": {"id": "77", "processing_info": {"state": "succeeded"}}},
            Uploaded("77", Processing.READY),
        ),
        (
            200,
            {
                "data": {
                    "id": "77",
                    "processing_info": {
                        "state": "failed",
                        "error": {"code": 1, "message": "Unsupported video format"},
                    },
                }
            },
            Uploaded("77", Processing.FAILED, message="Unsupported video format"),
        ),
        (200, {"data": {"media_id_string": "78"}}, Uploaded("78", Processing.READY)),
        (200, {"data": {}}, None),
        (200, {"errors": [{"message": "x"}]}, None),
        (400, {"title": "Invalid Request"}, None),
    ],
)
def test_x_upload_and_status_answers(status: int, body: Any, expected: Uploaded | None) -> None:
    assert x_media.parse_upload(status, body) == expected
    assert x_media.parse_poll(status, body) == expected


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (413, Category.FORBIDDEN),
        (415, Category.FORBIDDEN),
        (401, Category.UNAUTHORIZED),
        (429, Category.UNAVAILABLE),
        (400, None),
    ],
)
def test_x_upload_errors_are_classified(status: int, category: Category | None) -> None:
    assert match_rule(x_media.UPLOAD_ERROR_TABLE, status, ProviderError("x")) == category
