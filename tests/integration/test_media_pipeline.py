"""Posts with media through real workers against a strict stand-in provider: each file
uploaded (and described, and waited for while processing), each post created once
carrying exactly its media; a URL file fetched at publish time, a missing one refusing
the post before anything is created."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from publisher.core import blobs, service
from publisher.sandbox import Sandbox
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


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server (a media host) over ``tmp_path / "files"``."""
    root = tmp_path / "files"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


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
