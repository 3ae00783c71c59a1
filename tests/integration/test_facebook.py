"""Facebook Pages through real workers against a strict stand-in (every create creates):
success, each error class as Graph words it, a throttling code, and ambiguous attempts
that a lookup of the Page's posts settles with one post, never two."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, running_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@contextmanager
def facebook_pipeline(workdir: Path, **overrides: str) -> Iterator[Pipeline]:
    """A pipeline on SQLite (the subject is the provider, not the database) against a
    strict Facebook stand-in, two worker processes racing for every post."""
    with (
        Sandbox(slow_seconds=2.0, strict=["facebook"]) as sandbox,
        running_pipeline(
            workdir, f"sqlite:///{workdir / 'publisher.db'}", sandbox, **overrides
        ) as running,
    ):
        running.start_worker("worker", concurrency=2)
        running.start_worker("worker2", concurrency=2)
        running.start_beat()
        yield running


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One pipeline for the module; Graph's usage headers hold a throttled credential at
    most 2 s here (test_facebook_photos checks the full wait)."""
    workdir = tmp_path_factory.mktemp("facebook")
    overrides = {"PUBLISHER_RECONCILE_TIMEOUT": "4", "PUBLISHER_RETRY_AFTER_MAX": "2"}
    with facebook_pipeline(workdir, **overrides) as running:
        yield running


def _post(pipeline: Pipeline, text: str, token: str = "tok-page") -> int:
    account = pipeline.account()
    credential = pipeline.credential(account, "facebook", token=f"{token}-{account}")
    return pipeline.post(account, credential, f"{text} {account}")


def test_publishes_once_to_the_pages_feed(pipeline: Pipeline) -> None:
    # Given an approved post due now, on a Page token
    post_id = _post(pipeline, "hello fans", token="tok-canary")
    # Then it is published once, with Graph's {page}_{post} id and its URL
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    assert post.external_id is not None
    assert pipeline.sandbox.ids_for(post.text) == [post.external_id.split("_")[1]]
    assert post.external_url == f"https://www.facebook.com/{post.external_id}"
    # And the call log holds no token
    calls = pipeline.calls(post_id)
    assert [c.category for c in calls] == ["success"]
    assert "canary" not in json.dumps([c.request_headers for c in calls]) + calls[0].url


@pytest.mark.parametrize(
    ("code", "state", "reason", "notice"),
    [
        (190, "cancelled", "unauthorized", "reauthorize"),  # the token
        (10, "cancelled", "forbidden", "forbidden"),  # a permission
        (200, "cancelled", "forbidden", "forbidden"),  # 200-299: a permission
        (368, "cancelled", "forbidden", "forbidden"),  # temporarily blocked
    ],
)
def test_refusals_cancel_by_class(
    pipeline: Pipeline, code: int, state: str, reason: str, notice: str
) -> None:
    post_id = _post(pipeline, f"[[fault:graph_code:{code}]] refused")
    post = pipeline.wait_final([post_id])[post_id]
    assert (post.state, post.cancel_reason) == (state, reason), post.last_error_message
    assert [n.kind for n in pipeline.notifications(post_id)] == [notice]
    assert pipeline.sandbox.ids_for(post.text) == []


@pytest.mark.parametrize(
    ("script", "first"),
    [
        ("graph_code:4,ok", "unavailable"),  # app throttled: a 400 with no Retry-After
        ("graph_code:613,ok", "unavailable"),  # calls exceed the rate limit
        ("graph_code:1,ok", "unavailable_ambiguous"),  # unknown: a 500, so it may have landed
    ],
)
def test_throttling_and_transient_codes_retry_and_publish_once(
    pipeline: Pipeline, script: str, first: str
) -> None:
    post_id = _post(pipeline, f"[[fault:{script}]] later")
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    assert pipeline.calls(post_id)[0].category == first
    assert len(pipeline.sandbox.ids_for(post.text)) == 1


@pytest.mark.parametrize("fault", ["503_after", "reset_after", "slow", "malformed"])
def test_an_ambiguous_attempt_is_looked_up_never_sent_twice(pipeline: Pipeline, fault: str) -> None:
    # Given a create that stores the post and then hides the answer
    post_id = _post(pipeline, f"[[fault:{fault}]] landed")
    # Then the next attempt finds it among the Page's posts instead of posting again
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    [created] = pipeline.sandbox.ids_for(post.text)
    assert post.external_id == f"1000_{created}"
    categories = [c.category for c in pipeline.calls(post_id)]
    assert "reconciled" in categories, categories


def test_lookups_that_cannot_tell_end_unconfirmed_never_resent(pipeline: Pipeline) -> None:
    # Given a create stored then hidden behind a 503, and the Page's posts unreadable
    account = pipeline.account()
    token = f"tok-blind-{account}"
    pipeline.sandbox.fail_lookups(None, status=503, token=token)
    credential = pipeline.credential(account, "facebook", token=token)
    post_id = pipeline.post(account, credential, f"[[fault:503_after]] blind {account}")
    # When the reconcile timeout (4 s here) passes
    post = pipeline.wait_final([post_id], timeout=90)[post_id]
    pipeline.sandbox.fail_lookups(0)
    # Then it is a draft marked unconfirmed, created once, and the user is told
    assert (post.state, post.last_error_category) == ("draft", "unconfirmed")
    assert len(pipeline.sandbox.ids_for(post.text)) == 1
    assert [n.kind for n in pipeline.notifications(post_id)] == ["unconfirmed"]
