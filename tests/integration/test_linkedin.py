"""LinkedIn through real workers against the strict sandbox (every create creates):
success with an image, each error class, a rate limit without Retry-After, and ambiguous
attempts, which end as one post found by a lookup, or ``unconfirmed`` when the lookup
cannot tell, never two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.core import blobs, service
from publisher.errors import InvalidInput
from publisher.sandbox import Sandbox
from publisher.sandbox.linkedin import SHARE
from tests.conftest import SQLITE_ONLY
from tests.support.media_files import PNG, sized
from tests.support.pipeline import Pipeline, running_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240), SQLITE_ONLY]

AUTHOR = "urn:li:person:sandbox"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(strict=["linkedin"]) as running:
        yield running


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with running_pipeline(
        tmp_path, database_url, sandbox, PUBLISHER_RECONCILE_TIMEOUT="4"
    ) as running:
        running.start_worker(concurrency=4)
        running.start_beat()
        yield running


def _credential(pipeline: Pipeline, account: int, token: str) -> int:
    """A LinkedIn credential whose base URL names its author (``linkedin_api``)."""
    base = f"{pipeline.sandbox.url}#{AUTHOR}"
    with pipeline.sessions.begin() as session:
        return service.add_credential(session, pipeline.box, account, "linkedin", base, token).id


def _urns(pipeline: Pipeline, text: str) -> list[str]:
    return [SHARE + found for found in pipeline.sandbox.ids_for(text, "linkedin")]


def test_a_post_with_an_image_is_created_once(pipeline: Pipeline) -> None:
    # Given a LinkedIn post with an uploaded image that takes one poll to process
    pipeline.sandbox.media_processing_polls = 1
    account = pipeline.account()
    credential = _credential(pipeline, account, "tok-image")
    store = blobs.from_settings(pipeline.settings)
    with pipeline.sessions.begin() as session:
        media = service.create_from_upload(
            session, store, sized(PNG, 3000), "a.png", "A cat", account
        )
    text = "A (little) *text* post #1"
    post_id = pipeline.post(account, credential, text, media=[{"id": media.id}])
    # When a worker publishes it
    post = pipeline.wait_final([post_id])[post_id]
    # Then it is done with the URN LinkedIn named in x-restli-id, created once with its image
    assert post.state == "done", post.last_error_message
    assert _urns(pipeline, text) == [post.external_id]
    (record,) = pipeline.sandbox.creates
    assert [(m.size, m.description) for m in record.media] == [(3000, "A cat")]
    assert post.external_url == f"https://www.linkedin.com/feed/update/{post.external_id}/"


@pytest.mark.parametrize(
    ("fault", "state", "category"),
    [
        ("401", "cancelled", "unauthorized"),  # revoked token: re-authorize
        ("403", "cancelled", "forbidden"),  # missing permission
        ("422", "cancelled", "forbidden"),  # validation
        ("429,ok", "done", None),  # daily limit, no Retry-After: backoff, then published
        ("503,ok", "done", None),  # transient
    ],
)
def test_each_error_class(pipeline: Pipeline, fault: str, state: str, category: str | None) -> None:
    account = pipeline.account()
    credential = _credential(pipeline, account, f"tok-{fault}")
    text = f"[[fault:{fault}]] error class"
    post_id = pipeline.post(account, credential, text)
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == state, post.last_error_message
    if state == "done":
        assert _urns(pipeline, text) == [post.external_id]
        assert post.attempts == 2
    else:
        assert pipeline.sandbox.creates == []
        assert post.last_error_category == category


@pytest.mark.parametrize("fault", ["503_after", "reset_after", "malformed"])
def test_an_ambiguous_attempt_is_found_by_a_lookup_not_resent(
    pipeline: Pipeline, fault: str
) -> None:
    # Given a create LinkedIn stored, then answered unreadably
    account = pipeline.account()
    credential = _credential(pipeline, account, f"tok-{fault}")
    text = f"[[fault:{fault}]] ambiguous"
    post_id = pipeline.post(account, credential, text)
    # When the worker retries, it looks the post up first
    post = pipeline.wait_final([post_id])[post_id]
    # Then it is done with the one post's URN, never created twice
    assert post.state == "done", post.last_error_message
    assert _urns(pipeline, text) == [post.external_id]
    assert "reconciled" in [c.category for c in pipeline.calls(post_id)]


def test_an_ambiguous_attempt_without_read_permission_ends_unconfirmed(
    pipeline: Pipeline,
) -> None:
    # Given a token that may not read the author's posts (the finder answers 403)
    pipeline.sandbox.fail_lookups(None, status=403, token="tok-no-read")
    account = pipeline.account()
    credential = _credential(pipeline, account, "tok-no-read")
    text = "[[fault:503_after]] cannot look"
    post_id = pipeline.post(account, credential, text)
    # When the lookup cannot tell until the reconcile timeout
    post = pipeline.wait_final([post_id], final={"draft"})[post_id]
    # Then the post is back in draft as unconfirmed, created once, never re-sent
    assert post.last_error_category == "unconfirmed", post.last_error_message
    assert len(_urns(pipeline, text)) == 1


def test_a_thread_is_refused_when_created(pipeline: Pipeline) -> None:
    # LinkedIn has no threads: two parts would be two unrelated posts
    account = pipeline.account()
    credential = _credential(pipeline, account, "tok-thread")
    parts = [{"text": "one"}, {"text": "two"}]
    with pytest.raises(InvalidInput) as refused:
        pipeline.post(account, credential, None, parts=parts)  # type: ignore[arg-type]
    assert (refused.value.field, refused.value.message) == (
        "parts",
        "linkedin has no threads: give one part",
    )
    assert pipeline.sandbox.creates == []
