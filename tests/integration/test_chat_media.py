"""Telegram and Discord posts with media through real workers against the strict sandbox:
the files travel in the one request that creates the message, each post is created once
with every file's bytes intact (the sandbox keeps their sha256), an album is named by its
first message and a later part replies to it, and an ambiguous attempt at a media post
ends ``unconfirmed``, never sent twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.core import blobs, service
from publisher.core.models import Post
from publisher.sandbox import Sandbox
from publisher.sandbox.ledger import CallRecord
from tests.conftest import SQLITE_ONLY
from tests.support.media_files import GIF, MP4, PNG, sized
from tests.support.pipeline import Pipeline, running_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240), SQLITE_ONLY]

DESTINATIONS = {"telegram": "/@news", "discord": "/api/webhooks/123"}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=3.0, strict=True) as running:
        yield running


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with running_pipeline(tmp_path, database_url, sandbox) as running:
        yield running


def _setup(pipeline: Pipeline, provider: str) -> tuple[int, int]:
    """An account and its credential for ``provider`` at the sandbox."""
    account = pipeline.account()
    base = pipeline.sandbox.url + DESTINATIONS[provider]
    with pipeline.sessions.begin() as session:
        credential = service.add_credential(
            session, pipeline.box, account, provider, base, "123:tok", allow_private=True
        )
        return account, credential.id


def _upload(pipeline: Pipeline, account: int, content: bytes, alt: str | None = None) -> int:
    store = blobs.from_settings(pipeline.settings)  # the workers' store: same data dir
    with pipeline.sessions.begin() as session:
        return service.create_from_upload(session, store, content, "f", alt, account).id


def _run(pipeline: Pipeline, post_id: int) -> Post:
    pipeline.start_worker(concurrency=2)
    pipeline.start_beat()
    return pipeline.wait_final([post_id], timeout=90)[post_id]


def _bot_calls(pipeline: Pipeline) -> list[CallRecord]:
    """The requests the workers sent to the Bot API (Sentry's envelopes left out)."""
    return [c for c in pipeline.sandbox.calls if c.path.startswith("/bot")]


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_a_telegram_photo_is_sent_once_with_its_caption(pipeline: Pipeline) -> None:
    account, credential = _setup(pipeline, "telegram")
    image = sized(PNG, 3000)
    media = [{"id": _upload(pipeline, account, image, "A cat")}]
    post = _run(pipeline, pipeline.post(account, credential, "a cat", media=media))
    assert post.state == "done", post.last_error_message
    (record,) = pipeline.sandbox.creates
    assert (record.id, record.text) == (post.external_id, "a cat")
    assert [(m.sha256, m.description) for m in record.media] == [(_sha(image), None)]
    assert [c.path.rpartition("/")[2] for c in _bot_calls(pipeline)] == ["sendPhoto"]


def test_a_telegram_album_then_a_reply_to_it_each_once(pipeline: Pipeline) -> None:
    # Given a thread whose first part is an album of two images and a video
    account, credential = _setup(pipeline, "telegram")
    files = [sized(PNG, 2000), sized(PNG, 2500), sized(MP4, 4000)]
    media = [{"id": _upload(pipeline, account, content)} for content in files]
    parts = [{"text": "album", "media": media}, {"text": "and a word on it"}]
    # When a worker publishes it
    post = _run(pipeline, pipeline.post(account, credential, None, parts=parts))  # type: ignore[arg-type]
    # Then the album is one sendMediaGroup, named by its first message, every file intact
    assert post.state == "done", post.last_error_message
    album, reply = pipeline.sandbox.creates
    assert album.text == "album" and post.external_id == album.id
    assert [m.sha256 for m in album.media] == [_sha(content) for content in files]
    assert album.payload["result"][0]["message_id"] == int(album.id)
    # And the second part replies to the album's first message
    sent = [
        c for c in pipeline.sandbox.calls if c.path.endswith(("/sendMediaGroup", "/sendMessage"))
    ]
    assert [c.path.rpartition("/")[2] for c in sent] == ["sendMediaGroup", "sendMessage"]
    assert json.loads(sent[1].body)["reply_parameters"] == {"message_id": int(album.id)}
    assert reply.text == "and a word on it"


def test_a_discord_message_carries_two_files_with_their_alt_texts(pipeline: Pipeline) -> None:
    account, credential = _setup(pipeline, "discord")
    image, gif = sized(PNG, 3000), sized(GIF, 2200)
    media = [
        {"id": _upload(pipeline, account, image, "stored alt")},
        {"id": _upload(pipeline, account, gif), "alt": "A dancing cat"},
    ]
    post = _run(pipeline, pipeline.post(account, credential, "two files", media=media))
    assert post.state == "done", post.last_error_message
    (record,) = pipeline.sandbox.creates
    assert record.id == post.external_id
    assert [(m.sha256, m.description) for m in record.media] == [
        (_sha(image), "stored alt"),
        (_sha(gif), "A dancing cat"),
    ]


@pytest.mark.parametrize("provider", ["telegram", "discord"])
@pytest.mark.parametrize("fault", ["502_after", "reset_after"])
def test_an_ambiguous_media_post_ends_unconfirmed_never_sent_twice(
    pipeline: Pipeline, provider: str, fault: str
) -> None:
    account, credential = _setup(pipeline, provider)
    media: list[dict[str, Any]] = [
        {"id": _upload(pipeline, account, sized(PNG, 1500 + n))} for n in range(2)
    ]
    text = f"[[fault:{fault}]] maybe {provider}"
    post = _run(pipeline, pipeline.post(account, credential, text, media=media))
    assert (post.state, post.last_error_category, post.ambiguous) == ("draft", "unconfirmed", True)
    assert len(pipeline.sandbox.ids_for(text)) == 1  # created once, by the only attempt
    assert [n.kind for n in pipeline.notifications(post.id)] == ["unconfirmed"]
