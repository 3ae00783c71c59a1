"""Posts with media through real workers against a strict stand-in provider: each file
uploaded (and described, and waited for while processing), each post created once
carrying exactly its media; a URL file fetched at publish time, a missing one refusing
the post before anything is created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.core import blobs, service
from publisher.sandbox import Sandbox
from tests.conftest import SQLITE_ONLY
from tests.support.media_files import GIF, PNG, sized
from tests.support.pipeline import Pipeline, running_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(strict=True) as running:
        yield running


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with running_pipeline(tmp_path, database_url, sandbox) as running:
        yield running


def _upload(pipeline: Pipeline, account: int, content: bytes, alt: str) -> int:
    store = blobs.from_settings(pipeline.settings)  # the workers' store: same data dir
    with pipeline.sessions.begin() as session:
        return service.create_from_upload(session, store, content, "f.png", alt, account).id


def _from_url(pipeline: Pipeline, account: int, url: str, alt: str) -> int:
    with pipeline.sessions.begin() as session:
        return service.create_from_url(session, url, alt, account, allow_private=True).id


@pytest.mark.parametrize("provider", ["mastodon", "x"])
def test_a_post_carries_its_uploaded_media(pipeline: Pipeline, provider: str) -> None:
    # Given a post with two uploaded images, one with the post's own alt text, on a
    # provider that processes media before a post may carry it
    pipeline.sandbox.media_processing_polls = 1
    account = pipeline.account()
    credential = pipeline.credential(account, provider, token=f"tok-{provider}")
    first = _upload(pipeline, account, sized(PNG, 3000), "A cat")
    second = _upload(pipeline, account, sized(PNG, 4000), "stored alt")
    media = [{"id": first}, {"id": second, "alt": "A second cat"}]
    post_id = pipeline.post(account, credential, f"{provider} with media", media=media)
    # When a worker publishes it
    pipeline.start_worker(concurrency=2)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    # Then it was created once, carrying both files in order with their alt texts
    assert post.state == "done", post.last_error_message
    (record,) = pipeline.sandbox.creates
    assert [(m.size, m.description) for m in record.media] == [
        (3000, "A cat"),
        (4000, "A second cat"),
    ]
    # And each file was uploaded once
    assert len(pipeline.sandbox.uploads) == 2


@SQLITE_ONLY
def test_a_url_file_is_fetched_at_publish_time(pipeline: Pipeline, files: tuple[str, Path]) -> None:
    base, root = files
    (root / "dance.gif").write_bytes(sized(GIF, 2500))
    account = pipeline.account()
    credential = pipeline.credential(account, "x", token="tok-url")
    media_id = _from_url(pipeline, account, f"{base}/dance.gif", "A dancing cat")
    post_id = pipeline.post(account, credential, "a gif from a url", media=[{"id": media_id}])
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    (record,) = pipeline.sandbox.creates
    ((upload),) = record.media
    assert (upload.size, upload.category, upload.description) == (
        2500,
        "tweet_gif",
        "A dancing cat",
    )


@SQLITE_ONLY
def test_a_missing_url_file_refuses_the_post_before_anything_is_created(
    pipeline: Pipeline, files: tuple[str, Path]
) -> None:
    base, _ = files
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon", token="tok-missing")
    media_id = _from_url(pipeline, account, f"{base}/gone.png", "")
    post_id = pipeline.post(account, credential, "its file is gone", media=[{"id": media_id}])
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "cancelled"
    assert "404" in (post.last_error_message or "")
    assert pipeline.sandbox.creates == []
    assert pipeline.sandbox.uploads == []


@SQLITE_ONLY
def test_long_processing_hands_the_post_back_and_resumes_without_uploading_again(
    pipeline: Pipeline,
) -> None:
    # Given Mastodon processing a file for more polls than a worker waits through
    pipeline.sandbox.media_processing_polls = 3
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon", token="tok-processing")
    media = [{"id": _upload(pipeline, account, sized(PNG, 2000), "slow to process")}]
    post_id = pipeline.post(account, credential, "processing takes a while", media=media)
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id], timeout=120)[post_id]
    # Then the post was handed back while the file processed (no attempt used), and
    # published once carrying the one upload
    assert (post.state, post.attempts) == ("done", 1), post.last_error_message
    with pipeline.sessions() as session:
        released = [e.reason for e in service.history(session, post_id) if e.trigger == "release"]
    assert released and all("still processing" in (r or "") for r in released), released
    assert len(pipeline.sandbox.uploads) == 1
    (record,) = pipeline.sandbox.creates
    assert [m.size for m in record.media] == [2000]
    polls = [c for c in pipeline.calls(post_id) if c.method == "GET" and c.step == "p0.m0"]
    assert len(polls) >= 3


@SQLITE_ONLY
def test_a_webhook_gets_each_file_as_a_url(pipeline: Pipeline, files: tuple[str, Path]) -> None:
    # Given a webhook post with an uploaded file and a file given by URL
    base, root = files
    (root / "b.png").write_bytes(sized(PNG, 1500))
    account = pipeline.account()
    credential = pipeline.credential(account, "webhook", token="tok-hook-media")
    uploaded = _upload(pipeline, account, sized(PNG, 1200), "uploaded")
    linked = _from_url(pipeline, account, f"{base}/b.png", "linked")
    media = [{"id": uploaded}, {"id": linked}]
    post_id = pipeline.post(account, credential, "a webhook with files", media=media)
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    # Then its one delivery lists both, each with the URL to fetch it from, in order
    (delivery,) = pipeline.sandbox.deliveries
    sent = json.loads(delivery.body)["media"]
    assert [(m["id"], m["alt"], m["url"]) for m in sent] == [
        (uploaded, "uploaded", f"{pipeline.settings.api_url}/v1/media/{uploaded}/content"),
        (linked, "linked", f"{base}/b.png"),
    ]
