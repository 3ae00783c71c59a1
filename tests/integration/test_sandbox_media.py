"""The sandbox's media endpoints over real HTTP, driven by publisher's own media calls
(``providers.mastodon_media``, ``providers.x_media``): uploads, processing and polls,
alt text, and what each created post carried, strict and helpful."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from publisher.providers import x_media
from publisher.providers.base import MediaFile, PreparedCall, Uploaded
from publisher.providers.mastodon_media import UPLOADER as MASTODON
from publisher.providers.x_media import UPLOADER as X
from publisher.sandbox import Sandbox
from tests.support.media_files import GIF, MP4, PNG, sized

TOKEN = "good-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMAGE = MediaFile(sized(PNG, 2000), "image/png", "cat.png", "image", "A cat")
VIDEO = MediaFile(sized(MP4, x_media.CHUNK_BYTES + 100), "video/mp4", "c.mp4", "video", "")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(strict=True) as running:
        yield running


def _send(call: PreparedCall) -> tuple[int, Any]:
    response = requests.request(
        call.method,
        call.url,
        headers=dict(call.headers),
        data=call.data,
        json=call.json,
        timeout=10,
    )
    return response.status_code, response.json() if response.content else None


def _mastodon_upload(sandbox: Sandbox, file: MediaFile) -> Uploaded:
    status, body = _send(MASTODON.prepare_upload(sandbox.url, TOKEN, file))
    uploaded = MASTODON.parse_upload(status, body)
    assert uploaded is not None, (status, body)
    return uploaded


def _status(sandbox: Sandbox, media_ids: list[str], text: str = "with media") -> requests.Response:
    return requests.post(
        f"{sandbox.url}/api/v1/statuses",
        json={"status": text, "media_ids": media_ids},
        headers=AUTH,
        timeout=10,
    )


def test_mastodon_upload_ready_at_once_is_carried_by_a_status(sandbox: Sandbox) -> None:
    uploaded = _mastodon_upload(sandbox, IMAGE)
    assert uploaded.ready
    created = _status(sandbox, [uploaded.media_id])
    assert created.status_code == 200, created.text
    assert [a["id"] for a in created.json()["media_attachments"]] == [uploaded.media_id]
    # The ledger tells what the post carried: ids, descriptions, the bytes' digest
    (record,) = sandbox.creates
    assert [(m.id, m.description, m.size) for m in record.media] == [
        (uploaded.media_id, "A cat", 2000)
    ]
    assert sandbox.uploads[0].filename == "cat.png"


def test_mastodon_processing_answers_202_then_206_then_200(sandbox: Sandbox) -> None:
    sandbox.media_processing_polls = 2
    uploaded = _mastodon_upload(sandbox, VIDEO)
    assert not uploaded.ready
    # A strict Mastodon refuses a status with media still processing
    refused = _status(sandbox, [uploaded.media_id])
    assert refused.status_code == 422
    assert "processing" in refused.json()["error"]
    poll = MASTODON.prepare_poll(sandbox.url, TOKEN, uploaded.media_id)
    states = [MASTODON.parse_poll(*_send(poll), uploaded.media_id) for _ in range(3)]
    assert [s.ready if s else None for s in states] == [False, False, True]
    assert _status(sandbox, [uploaded.media_id]).status_code == 200


def test_mastodon_refuses_unknown_media_and_other_tokens_media(sandbox: Sandbox) -> None:
    theirs = MASTODON.prepare_upload(sandbox.url, "other-token", IMAGE)
    other_id = _send(theirs)[1]["id"]
    for media_id in ("999", other_id):
        refused = _status(sandbox, [media_id])
        assert refused.status_code == 422
        assert "not found" in refused.json()["error"]
    poll = MASTODON.prepare_poll(sandbox.url, TOKEN, other_id)
    assert MASTODON.parse_poll(*_send(poll), other_id) == Uploaded(
        other_id, ready=False, failed="Record not found"
    )
    assert sandbox.creates == []


def test_a_helpful_mastodon_ignores_unknown_media(sandbox: Sandbox) -> None:
    sandbox.set_strict(False)
    created = _status(sandbox, ["999"])
    assert created.status_code == 200
    assert created.json()["media_attachments"] == []


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"file": ("a.txt", b"text", "text/plain")}, 422),
        ({"description": "no file"}, 422),
        ({"file": ("a.png", PNG, "image/png"), "description": "d" * 1501}, 422),
    ],
)
def test_mastodon_upload_refusals(sandbox: Sandbox, fields: dict[str, Any], status: int) -> None:
    from urllib3 import encode_multipart_formdata

    body, content_type = encode_multipart_formdata(fields)
    answer = requests.post(
        f"{sandbox.url}/api/v2/media",
        data=body,
        headers={**AUTH, "Content-Type": content_type},
        timeout=10,
    )
    assert answer.status_code == status
    assert "error" in answer.json()
    assert requests.post(f"{sandbox.url}/api/v2/media", timeout=10).status_code == 401


def _x_chunked(sandbox: Sandbox, file: MediaFile) -> Uploaded:
    init = X.parse_upload(*_send(x_media.prepare_initialize(sandbox.url, TOKEN, file)))
    assert init is not None
    for call in x_media.prepare_appends(sandbox.url, TOKEN, init.media_id, file):
        status, _ = _send(call)
        assert status == 200
    final = X.parse_upload(*_send(x_media.prepare_finalize(sandbox.url, TOKEN, init.media_id)))
    assert final is not None
    return final


def _tweet(sandbox: Sandbox, media_ids: list[str], text: str = "with media") -> requests.Response:
    return requests.post(
        f"{sandbox.url}/2/tweets",
        json={"text": text, "media": {"media_ids": media_ids}},
        headers=AUTH,
        timeout=10,
    )


def test_x_image_upload_with_alt_text_is_carried_by_a_tweet(sandbox: Sandbox) -> None:
    uploaded = X.parse_upload(*_send(X.prepare_upload(sandbox.url, TOKEN, IMAGE)))
    assert uploaded is not None and uploaded.ready
    status, body = _send(X.prepare_describe(sandbox.url, TOKEN, uploaded.media_id, "A cat"))
    assert status == 200, body
    created = _tweet(sandbox, [uploaded.media_id])
    assert created.status_code == 201, created.text
    (record,) = sandbox.creates
    assert [(m.id, m.description, m.category) for m in record.media] == [
        (uploaded.media_id, "A cat", "tweet_image")
    ]
    assert record.payload["attachments"] == {"media_keys": [f"3_{uploaded.media_id}"]}


def test_x_video_in_chunks_is_processed_then_carried(sandbox: Sandbox) -> None:
    sandbox.media_processing_polls = 2
    final = _x_chunked(sandbox, VIDEO)
    assert not final.ready
    assert final.wait == 1.0
    refused = _tweet(sandbox, [final.media_id])
    assert refused.status_code == 400
    assert "media" in refused.json()["detail"].lower()
    poll = X.prepare_poll(sandbox.url, TOKEN, final.media_id)
    states = [X.parse_poll(*_send(poll), final.media_id) for _ in range(3)]
    assert [s.ready if s else None for s in states] == [False, False, True]
    assert _tweet(sandbox, [final.media_id]).status_code == 201
    (record,) = sandbox.creates
    assert record.media[0].size == len(VIDEO.content)


def test_x_refusals(sandbox: Sandbox) -> None:
    # An unknown media id, a chunked upload whose bytes do not add up, too long alt text
    assert _tweet(sandbox, ["123"]).status_code == 400
    short = MediaFile(GIF, "image/gif", "a.gif", "gif", "")
    init = X.parse_upload(*_send(x_media.prepare_initialize(sandbox.url, TOKEN, short)))
    assert init is not None
    status, body = _send(x_media.prepare_finalize(sandbox.url, TOKEN, init.media_id))
    assert status == 400
    assert "mismatch" in body["detail"]
    uploaded = X.parse_upload(*_send(X.prepare_upload(sandbox.url, TOKEN, IMAGE)))
    assert uploaded is not None
    too_long = X.prepare_describe(sandbox.url, TOKEN, uploaded.media_id, "a" * 1001)
    assert _send(too_long)[0] == 400
    assert sandbox.creates == []


def test_reset_forgets_uploads(sandbox: Sandbox) -> None:
    _mastodon_upload(sandbox, IMAGE)
    assert len(sandbox.uploads) == 1
    sandbox.reset()
    assert sandbox.uploads == []
