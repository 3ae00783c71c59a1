"""Threads (Meta) through real workers against a strict stand-in: each part a container
made, confirmed, checked and published; a thread whose parts reply in order; ambiguous
publishes settled by the container's status (one post, never two); an expired container
replaced; a worker killed between container and publish resuming with the same
container; and each error class as Graph words it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.core import service
from publisher.core.models import Post, PostStep
from publisher.core.service.oauth import OAuthFields
from publisher.sandbox import Sandbox
from publisher.sandbox.threads_containers import LANDS_LATE, Container, Image
from tests.support.pipeline import Pipeline, running_pipeline, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One pipeline for the module (SQLite: the subject is the provider, not the
    database), two worker processes racing for every post; a provider's wait is cut to
    2 s (PUBLISHER_RETRY_AFTER_MAX), so the publishing limit's hold is seen, not sat out."""
    workdir = tmp_path_factory.mktemp("threads_meta")
    with (
        Sandbox(slow_seconds=2.0, strict=["threads"]) as sandbox,
        running_pipeline(
            workdir,
            f"sqlite:///{workdir / 'publisher.db'}",
            sandbox,
            PUBLISHER_RECONCILE_TIMEOUT="4",
            PUBLISHER_RETRY_AFTER_MAX="2",
        ) as running,
    ):
        running.start_worker("worker", concurrency=2)
        running.start_worker("worker2", concurrency=2)
        running.start_beat()
        yield running


def _credential(pipeline: Pipeline, token: str) -> tuple[int, int]:
    account = pipeline.account()
    return account, pipeline.credential(account, "threads", token=f"{token}-{account}")


def _post(pipeline: Pipeline, text: str, token: str = "tok-threads") -> int:
    account, credential = _credential(pipeline, token)
    return pipeline.post(account, credential, f"{text} {account}")


def _steps(pipeline: Pipeline, post_id: int) -> dict[str, str]:
    with pipeline.sessions() as session:
        rows = session.scalars(select(PostStep).where(PostStep.post_id == post_id))
        return {row.key: row.external_id for row in rows}


def _published_once(pipeline: Pipeline, post_id: int) -> tuple[Post, Container]:
    """The post, done, and its one container: published once, as the post's media id."""
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    [container] = pipeline.sandbox.state.containers.made_for(post.text)
    assert pipeline.sandbox.ids_for(post.text) == [post.external_id] == [container.media_id]
    return post, container


def test_a_post_is_a_container_published_once(pipeline: Pipeline) -> None:
    # Given an approved post due now
    post_id = _post(pipeline, "hello threads", token="tok-canary")
    # Then one container was made, checked and published: one post, its media id ours
    post, container = _published_once(pipeline, post_id)
    assert _steps(pipeline, post_id) == {"p0.c": container.id, "p0": post.external_id}
    calls = [(c.method, c.step, c.category) for c in pipeline.calls(post_id)]
    assert calls == [
        ("POST", "p0.c", "success"),
        ("GET", "p0.c", "success"),
        ("POST", "p0", "success"),
    ]
    assert all("canary" not in c.url for c in pipeline.calls(post_id))


def _image_post(pipeline: Pipeline, text: str, url: str) -> int:
    account, credential = _credential(pipeline, "tok-image")
    with pipeline.sessions.begin() as session:
        media = service.create_from_url(session, url, "a cat", account, allow_private=True)
    return pipeline.post(account, credential, f"{text} {account}", media=[{"id": media.id}])


def test_an_image_given_by_url_is_passed_to_meta_as_its_image_url(pipeline: Pipeline) -> None:
    post_id = _image_post(pipeline, "look", "https://cdn.example/cat.jpg")
    _, container = _published_once(pipeline, post_id)
    assert container.image == Image("https://cdn.example/cat.jpg", "a cat")


def test_an_image_meta_cannot_fetch_refuses_the_post_naming_why(pipeline: Pipeline) -> None:
    # Given an image whose container Meta reports ERROR (it could not fetch the file)
    post_id = _image_post(pipeline, "nope", "https://cdn.example/broken.jpg")
    post = pipeline.wait_final([post_id])[post_id]
    # Then the post is refused with Meta's reason, nothing published, one container made
    assert (post.state, post.cancel_reason) == ("cancelled", "forbidden"), post.last_error_message
    assert "FAILED_DOWNLOADING_IMAGE" in (post.last_error_message or "")
    assert pipeline.sandbox.ids_for(post.text) == []
    assert len(pipeline.sandbox.state.containers.made_for(post.text)) == 1
    assert [n.kind for n in pipeline.notifications(post_id)] == ["forbidden"]


def test_a_thread_publishes_each_part_as_a_reply_to_the_one_before(pipeline: Pipeline) -> None:
    account, credential = _credential(pipeline, "tok-chain")
    texts = [f"chain {n}/3 {account}" for n in (1, 2, 3)]
    post_id = pipeline.post(account, credential, None, parts=[{"text": t} for t in texts])
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    replied_to: str | None = None
    for text in texts:
        [container] = pipeline.sandbox.state.containers.made_for(text)
        assert container.reply_to == replied_to, text
        assert pipeline.sandbox.ids_for(text) == [container.media_id]
        replied_to = container.media_id
    assert post.external_id == pipeline.sandbox.ids_for(texts[0])[0]


@pytest.mark.parametrize("fault", ["503_after", "reset_after", "slow", "malformed"])
def test_an_ambiguous_publish_that_landed_is_found_never_published_again(
    pipeline: Pipeline, fault: str
) -> None:
    # Given a publish that makes the post and then hides the answer
    post_id = _post(pipeline, f"[[fault:{fault}]] landed")
    # Then the container says PUBLISHED, and the post is found among the user's posts
    _published_once(pipeline, post_id)
    categories = [c.category for c in pipeline.calls(post_id)]
    assert "reconciled" in categories, categories
    assert [c.step for c in pipeline.calls(post_id) if c.method == "POST"] == ["p0.c", "p0"]


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_an_ambiguous_publish_that_did_not_land_publishes_the_same_container(
    pipeline: Pipeline, fault: str
) -> None:
    # Given a publish refused before anything was made, in a way the client cannot tell
    post_id = _post(pipeline, f"[[fault:{fault}]] missed")
    # Then the container says FINISHED and the same container is published: one post
    _, container = _published_once(pipeline, post_id)
    publishes = [c for c in pipeline.calls(post_id) if c.step == "p0" and c.method == "POST"]
    assert len(publishes) == 2
    assert all(c.url.endswith(f"creation_id={container.id}") for c in publishes)


def test_a_late_publish_that_lands_after_the_status_check_is_found_not_refused(
    pipeline: Pipeline,
) -> None:
    # Given a publish lost to a 503, whose request lands late: right after the next
    # attempt's status read said FINISHED, so that attempt's publish meets a container
    # already PUBLISHED (the stand-in's LANDS_LATE marker) and is refused
    post_id = _post(pipeline, f"[[fault:503]] {LANDS_LATE} late")
    # Then the refusal is not believed: the post is found, done, never cancelled
    _published_once(pipeline, post_id)
    publishes = [c for c in pipeline.calls(post_id) if c.step == "p0" and c.method == "POST"]
    assert len(publishes) == 2  # the lost one, and the refused one


def test_a_published_container_whose_post_cannot_be_found_ends_unconfirmed(
    pipeline: Pipeline,
) -> None:
    # Given a publish stored then hidden behind a 503, and the user's posts unreadable
    account = pipeline.account()
    token = f"tok-blind-{account}"
    pipeline.sandbox.fail_lookups(None, status=503, token=token)
    credential = pipeline.credential(account, "threads", token=token)
    post_id = pipeline.post(account, credential, f"[[fault:503_after]] blind {account}")
    # When the reconcile timeout (4 s here) passes
    post = pipeline.wait_final([post_id], timeout=90)[post_id]
    pipeline.sandbox.fail_lookups(0)
    # Then it is a draft marked unconfirmed, published once, never again, and the user told
    assert (post.state, post.last_error_category) == ("draft", "unconfirmed")
    assert len(pipeline.sandbox.ids_for(post.text)) == 1
    publishes = [c for c in pipeline.calls(post_id) if c.step == "p0" and c.method == "POST"]
    assert len(publishes) == 1
    assert [n.kind for n in pipeline.notifications(post_id)] == ["unconfirmed"]


@pytest.mark.parametrize(
    ("code", "reason", "notice"),
    [
        (190, "unauthorized", "reauthorize"),  # the token
        (10, "forbidden", "forbidden"),  # a permission
        (200, "forbidden", "forbidden"),  # 200-299: a permission
    ],
)
def test_refusals_cancel_by_class(pipeline: Pipeline, code: int, reason: str, notice: str) -> None:
    post_id = _post(pipeline, f"[[fault:graph_code:{code}]] refused")
    post = pipeline.wait_final([post_id])[post_id]
    assert (post.state, post.cancel_reason) == ("cancelled", reason), post.last_error_message
    assert [n.kind for n in pipeline.notifications(post_id)] == [notice]
    assert pipeline.sandbox.ids_for(post.text) == []


@pytest.mark.parametrize(
    ("script", "first"),
    [
        ("graph_code:4,ok", "unavailable"),  # throttled: a 400 with no Retry-After
        ("graph_code:1,ok", "unavailable_ambiguous"),  # unknown: a 500, may have landed
    ],
)
def test_throttling_and_transient_codes_retry_and_publish_once(
    pipeline: Pipeline, script: str, first: str
) -> None:
    post_id = _post(pipeline, f"[[fault:{script}]] later")
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    publishes = [c.category for c in pipeline.calls(post_id) if c.step == "p0"]
    assert publishes[0] == first
    assert len(pipeline.sandbox.ids_for(post.text)) == 1


def test_the_publishing_limit_holds_the_credential_then_publishes_once(pipeline: Pipeline) -> None:
    # Given a profile at its 250 posts a day: Graph's code 9 on the publish
    post_id = _post(pipeline, "[[fault:graph_code:9,ok]] quota")
    post = pipeline.wait_final([post_id])[post_id]
    # Then the post waited the (capped) hold, one publish after the refusal, one post
    assert post.state == "done", post.last_error_message
    publishes = [c for c in pipeline.calls(post_id) if c.step == "p0" and c.method == "POST"]
    assert [c.category for c in publishes] == ["unavailable", "success"]
    assert (publishes[1].started_at - publishes[0].started_at).total_seconds() >= 1.5
    assert len(pipeline.sandbox.ids_for(post.text)) == 1


def test_a_token_about_to_expire_is_refreshed_with_itself_before_publishing(
    pipeline: Pipeline,
) -> None:
    # Given a long-lived token 20 s from its end (refreshed at the claim), kept as its own
    # refresh token
    account = pipeline.account()
    token = f"tok-long-{account}"
    fields = OAuthFields(
        refresh_token=token,
        expires_in=20,
        token_url=pipeline.sandbox.url + "/refresh_access_token",
    )
    credential = pipeline.credential(account, "threads", token=token, oauth_fields=fields)
    post_id = pipeline.post(account, credential, f"fresh {account}")
    # Then it was refreshed first (the token itself sent), and the new token published
    _, container = _published_once(pipeline, post_id)
    refreshes = [c for c in pipeline.sandbox.calls if "refresh_access_token" in c.path]
    assert [c.path.endswith(f"access_token={token}") for c in refreshes] == [True]
    assert container.token is not None and container.token.startswith("th-")
    assert token not in " ".join(c.url for c in pipeline.calls(post_id))


@contextmanager
def _own_pipeline(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    """A pipeline of the test's own on either database (the subject is a ``post_steps``
    row: kept, or dropped), its processes started by the test."""
    with (
        Sandbox(strict=["threads"]) as sandbox,
        running_pipeline(tmp_path, database_url, sandbox) as pipeline,
    ):
        yield pipeline


def test_an_expired_container_is_replaced_by_a_new_one(tmp_path: Path, database_url: str) -> None:
    with _own_pipeline(tmp_path, database_url) as pipeline:
        pipeline.start_worker(concurrency=1)
        pipeline.start_beat()
        # Given a container that expires at its first publish, which answers a 503
        post_id = _post(pipeline, "[[container:expires]] late")
        post = pipeline.wait_final([post_id])[post_id]
        # Then a second container was made and published: one post, from the new one
        assert post.state == "done", post.last_error_message
        first, second = pipeline.sandbox.state.containers.made_for(post.text)
        assert (first.status, first.media_id) == ("EXPIRED", None)
        assert pipeline.sandbox.ids_for(post.text) == [post.external_id] == [second.media_id]
        assert _steps(pipeline, post_id)["p0.c"] == second.id


def test_a_worker_killed_between_container_and_publish_resumes_with_the_same_container(
    tmp_path: Path, database_url: str
) -> None:
    with _own_pipeline(tmp_path, database_url) as pipeline:
        sandbox = pipeline.sandbox
        # Given containers that stay IN_PROGRESS, and a worker polling one
        sandbox.state.containers.processing_polls = 10_000
        post_id = _post(pipeline, "crash between")
        pipeline.start_worker("doomed", concurrency=1)
        pipeline.start_beat()
        text = pipeline.get(post_id).text
        # (a fresh worker and beat on a loaded machine: as long as a post's wait_final)
        wait_for(
            lambda: "p0.c" in _steps(pipeline, post_id),
            120,
            lambda: f"{pipeline.get(post_id).state}\n{pipeline.log('doomed')[-3000:]}",
        )
        # When the worker is killed with the container confirmed, not yet published
        pipeline.kill("doomed", signal.SIGKILL)
        assert "p0" not in _steps(pipeline, post_id)
        sandbox.state.containers.processing_polls = 0  # a new container would be ready
        sandbox.state.containers.set_status("FINISHED", text)
        # Then another worker publishes that same container, once
        pipeline.start_worker("rescuer", concurrency=1)
        post = pipeline.wait_final([post_id], timeout=120)[post_id]
        assert post.state == "done", post.last_error_message
        [container] = sandbox.state.containers.made_for(text)
        assert sandbox.ids_for(text) == [post.external_id] == [container.media_id]
