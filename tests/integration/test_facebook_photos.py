"""Facebook Pages photos and Graph's usage headers through real workers against a strict
stand-in (every create creates): a post with two photos published once with its bytes
intact, an ambiguous feed create after the uploads settled by the lookup (one post,
never two, the uploads not repeated), a throttled Page held for Graph's estimate, a
success near the usage limit slowing the credential, and the limits checked at
creation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from publisher.core import blobs, service
from publisher.core.models import Credential, Post
from publisher.errors import InvalidInput
from publisher.sandbox.ledger import CreateRecord
from tests.integration.test_facebook import facebook_pipeline
from tests.support.media_files import GIF, JPEG, PNG, sized
from tests.support.pipeline import Pipeline, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REGAIN = timedelta(minutes=2)  # the sandbox's estimated_time_to_regain_access
MINUTE = timedelta(minutes=1)  # the pause on a success near the usage limit
SLACK = timedelta(seconds=2)  # clock reads between the provider's answer and our checks


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One pipeline for the module, holds up to the default hour."""
    workdir = tmp_path_factory.mktemp("facebook-photos")
    with facebook_pipeline(workdir, PUBLISHER_RECONCILE_TIMEOUT="30") as running:
        yield running


def _photo(pipeline: Pipeline, account: int, content: bytes, name: str, alt: str | None) -> int:
    store = blobs.from_settings(pipeline.settings)
    with pipeline.sessions.begin() as session:
        return service.create_from_upload(session, store, content, name, alt, account).id


def _photos(pipeline: Pipeline, account: int) -> tuple[list[int], list[bytes]]:
    files = [sized(PNG, 3000), sized(JPEG, 5000)]
    ids = [
        _photo(pipeline, account, files[0], "a.png", "A cat"),
        _photo(pipeline, account, files[1], "b.jpg", None),
    ]
    return ids, files


def _uploads(pipeline: Pipeline, post_id: int) -> list[str]:
    return [c.category for c in pipeline.calls(post_id) if c.url.endswith("/me/photos")]


def _photo_post(pipeline: Pipeline, text: str) -> tuple[Post, CreateRecord, list[bytes]]:
    """A Page post of ``text`` (plus the account's id) with two uploaded photos, once the
    workers are done with it: the post, the one Page post made of it, the photos' bytes."""
    account = pipeline.account()
    credential = pipeline.credential(account, "facebook", token=f"tok-photos-{account}")
    ids, files = _photos(pipeline, account)
    text = f"{text} {account}"
    post_id = pipeline.post(account, credential, text, media=[{"id": i} for i in ids])
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    [created] = [c for c in pipeline.sandbox.creates if c.text == text]
    assert post.external_id == f"1000_{created.id}"
    return post, created, files


def test_a_post_with_two_photos_is_published_once_with_its_bytes(pipeline: Pipeline) -> None:
    # Given a Page post with two uploaded photos (one with alt text), published
    post, created, files = _photo_post(pipeline, "two cats")
    # Then one Page post carries both photos, in order, byte for byte, with the alt text
    assert [(m.sha256, m.size) for m in created.media] == [
        (hashlib.sha256(f).hexdigest(), len(f)) for f in files
    ]
    assert [m.description for m in created.media] == ["A cat", None]
    # And each photo was uploaded once, unpublished (no post of its own)
    assert _uploads(pipeline, post.id) == ["success", "success"]
    assert len([c for c in pipeline.sandbox.creates if c.token == created.token]) == 1


@pytest.mark.parametrize("fault", ["502_after", "reset_after"])
def test_an_ambiguous_create_after_the_uploads_is_found_never_sent_twice(
    pipeline: Pipeline, fault: str
) -> None:
    # Given a photo post whose feed create stores the post, then hides the answer
    post, created, _ = _photo_post(pipeline, f"[[fault:{fault}]] lost cats")
    # Then the lookup found the post by its photos: one post, the uploads not repeated
    assert len(created.media) == 2
    categories = [c.category for c in pipeline.calls(post.id)]
    assert "reconciled" in categories, categories
    assert _uploads(pipeline, post.id) == ["success", "success"]


def _credential_hold(pipeline: Pipeline, credential_id: int) -> datetime | None:
    with pipeline.sessions() as session:
        stored = session.get(Credential, credential_id)
        assert stored is not None
        return stored.rate_limited_until


def test_a_throttled_page_waits_graphs_estimate(pipeline: Pipeline) -> None:
    # Given a Page whose first create is refused with code 32 and
    # estimated_time_to_regain_access: 2 (minutes)
    account = pipeline.account()
    credential = pipeline.credential(account, "facebook", token=f"tok-throttled-{account}")
    post_id = pipeline.post(account, credential, f"[[fault:graph_code:32,ok]] wait {account}")
    # When a worker meets the refusal
    post = wait_for(lambda: _retrying(pipeline, post_id), 60)
    [refused] = pipeline.calls(post_id)
    held = _credential_hold(pipeline, credential)
    # Then the credential and the post wait for Graph's estimate, not the short backoff
    assert refused.category == "unavailable"
    assert held is not None and refused.finished_at is not None
    assert refused.started_at + REGAIN - SLACK <= held <= refused.finished_at + REGAIN + SLACK
    assert post.next_run_at is not None and post.next_run_at >= held
    assert pipeline.sandbox.creates_by_text(kind="facebook")[post.text] == 0


def _retrying(pipeline: Pipeline, post_id: int) -> Post | None:
    post = pipeline.get(post_id)
    return post if post.state == "retry" else None


@pytest.mark.parametrize("photos", [False, True])
def test_a_success_near_the_usage_limit_slows_the_credential(
    pipeline: Pipeline, photos: bool
) -> None:
    # Given a post whose create succeeds while reporting the Page's usage at 97%
    account = pipeline.account()
    credential = pipeline.credential(account, "facebook", token=f"tok-busy-{photos}-{account}")
    media = [{"id": _photos(pipeline, account)[0][0]}] if photos else []
    busy = pipeline.post(account, credential, f"[[fault:graph_usage:97]] {account}", media=media)
    done = pipeline.wait_final([busy])[busy]
    assert done.state == "done", done.last_error_message
    # Then the credential is held for a minute from that answer
    answered = pipeline.calls(busy)[-1]
    held = _credential_hold(pipeline, credential)
    assert held is not None and answered.finished_at is not None
    assert answered.started_at + MINUTE - SLACK <= held <= answered.finished_at + MINUTE + SLACK
    # And the credential's next post, due now, waits for it instead of calling
    later = pipeline.post(account, credential, f"next {account}")
    waiting = wait_for(lambda: _waiting_until(pipeline, later, held), 30)
    assert waiting.state in ("approved", "retry")
    assert pipeline.sandbox.creates_by_text(kind="facebook")[waiting.text] == 0


def test_an_upload_near_the_usage_limit_hands_the_post_back_before_its_next_step(
    pipeline: Pipeline,
) -> None:
    # Given a Page whose every answer reports its usage at 97%, and a post with two photos
    account = pipeline.account()
    credential = pipeline.credential(account, "facebook", token=f"tok-slow-{account}")
    ids, _ = _photos(pipeline, account)
    pipeline.sandbox.state.graph_usage = 97
    try:
        text = f"slow cats {account}"
        post_id = pipeline.post(account, credential, text, media=[{"id": i} for i in ids])
        # When a worker uploads the first photo
        post = wait_for(lambda: _retrying(pipeline, post_id), 60)
    finally:
        pipeline.sandbox.state.graph_usage = 1
    # Then it stops there: the post and the credential wait a minute, no attempt used,
    # the first upload kept for the next attempt, nothing created yet
    [uploaded] = pipeline.calls(post_id)
    held = _credential_hold(pipeline, credential)
    assert uploaded.category == "success" and uploaded.url.endswith("/me/photos")
    assert held is not None and uploaded.finished_at is not None
    assert uploaded.started_at + MINUTE - SLACK <= held <= uploaded.finished_at + MINUTE + SLACK
    assert post.next_run_at == held
    assert post.attempts == 0
    assert pipeline.sandbox.creates_by_text(kind="facebook")[text] == 0


def _waiting_until(pipeline: Pipeline, post_id: int, held: datetime) -> Post | None:
    post = pipeline.get(post_id)
    return post if post.next_run_at is not None and post.next_run_at >= held else None


@pytest.mark.parametrize(
    ("content", "name", "limit"),
    [
        (sized(PNG, 4 * 1024 * 1024 + 1), "big.png", "allows 4,194,304 for image"),
        (sized(GIF, 100), "a.gif", "gif"),
    ],
)
def test_photos_facebook_would_refuse_are_refused_at_creation(
    pipeline: Pipeline, content: bytes, name: str, limit: str
) -> None:
    account = pipeline.account()
    credential = pipeline.credential(account, "facebook", token=f"tok-big-{account}")
    media_id = _photo(pipeline, account, content, name, None)
    with pytest.raises(InvalidInput) as refused:
        pipeline.post(account, credential, "too much", media=[{"id": media_id}])
    assert refused.value.field.startswith("media")
    assert limit in str(refused.value).lower()


def test_eleven_photos_are_refused_at_creation(pipeline: Pipeline) -> None:
    account = pipeline.account()
    credential = pipeline.credential(account, "facebook", token=f"tok-many-{account}")
    ids = [_photo(pipeline, account, sized(PNG, 100 + n), "p.png", None) for n in range(11)]
    with pytest.raises(InvalidInput, match="at most 10"):
        pipeline.post(account, credential, "many", media=[{"id": i} for i in ids])
