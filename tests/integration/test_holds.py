"""Posts held back at the worker, on real processes and both databases: a post found past
its lateness limit, and the kill switch (global, one credential, one provider)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.core import service
from publisher.core.models import utcnow
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    with RedisServer() as redis_server, Sandbox(strict=("mastodon", "x")) as sandbox:
        running = Pipeline(tmp_path, database_url, redis_server.url, sandbox)
        try:
            yield running
        finally:
            running.stop()


def _cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return _cli_with(pipeline, {}, *args)


def test_a_post_found_past_its_lateness_limit_returns_to_draft(pipeline: Pipeline) -> None:
    # Given "Good morning!" may be at most 2 s late, and another post has no limit
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon")
    late = pipeline.post(account, credential, "Good morning!", max_lateness=2.0)
    whenever = pipeline.post(account, credential, "Any time is fine")
    due = pipeline.get(late).scheduled_at
    assert due is not None
    # When the workers come back only after the limit passed (an outage)
    wait_for(lambda: utcnow() - due > timedelta(seconds=2.5), 10)
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    posts = pipeline.wait_final([late, whenever])
    # Then it is not published: a draft marked missed, the user told, no attempt used
    missed = posts[late]
    assert (missed.state, missed.last_error_category, missed.attempts) == ("draft", "missed", 0)
    assert [n.kind for n in pipeline.notifications(late)] == ["missed"]
    assert pipeline.sandbox.create_count(text="Good morning!") == 0
    assert posts[whenever].state == "done"


def test_the_kill_switch_drops_queued_and_held_messages_and_loses_no_post(
    pipeline: Pipeline,
) -> None:
    # Given two posts whose messages are already sent: one due now (waiting in the
    # queue), one due in a few seconds (sent with a countdown: the worker holds it)
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon")
    now_post = pipeline.post(account, credential, "queued before the pause")
    soon = pipeline.post(account, credential, "held before the pause", approve=False)
    with pipeline.sessions.begin() as session:
        service.approve(session, soon, utcnow(), utcnow() + timedelta(seconds=4))
    report = json.loads(_cli_with(pipeline, {"PUBLISHER_LOOKAHEAD": "30"}, "sweep").stdout)
    assert report["enqueued"] == 2
    # When publishing is paused, then a worker takes both messages
    _cli(pipeline, "pause")
    pipeline.start_worker(concurrency=1)
    wait_for(
        lambda: pipeline.log("worker").count(": 'paused'") >= 2, 60, lambda: pipeline.log("worker")
    )
    # Then nothing was published, and the posts are untouched
    assert pipeline.sandbox.creates == []
    for post_id in (now_post, soon):
        post = pipeline.get(post_id)
        assert (post.state, post.attempts) == ("approved", 0)
    # And after resume every such post goes out, with its one real attempt
    _cli(pipeline, "resume")
    pipeline.start_beat()
    posts = pipeline.wait_final([now_post, soon])
    for post in posts.values():
        assert (post.state, post.attempts) == ("done", 1)
        assert pipeline.sandbox.ids_for(post.text) == [post.external_id]


def test_a_paused_credential_or_provider_holds_its_posts_and_nothing_else(
    pipeline: Pipeline,
) -> None:
    # Given posts of three credentials, their messages already queued
    account = pipeline.account()
    held_credential = pipeline.credential(account, "mastodon")
    held_provider = pipeline.credential(account, "x")
    free = pipeline.credential(account, "webhook")
    posts = {
        "credential": pipeline.post(account, held_credential, "held: credential"),
        "provider": pipeline.post(account, held_provider, "held: provider"),
        "free": pipeline.post(account, free, "not held"),
    }
    assert json.loads(_cli(pipeline, "sweep").stdout)["enqueued"] == 3
    # When one credential and one provider are paused
    _cli(pipeline, "pause", "--credential", str(held_credential))
    _cli(pipeline, "pause", "--provider", "x")
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    # Then the other post is published, and the worker hands both held posts back
    pipeline.wait_final([posts["free"]])
    wait_for(lambda: pipeline.log("worker").count(": 'released'") >= 2, 60)
    for name in ("credential", "provider"):
        post = pipeline.get(posts[name])
        assert (post.state, post.attempts) == ("retry", 0), name
        assert pipeline.sandbox.create_count(text=post.text) == 0, name
    # And once lifted, they go out with one attempt each
    _cli(pipeline, "resume", "--credential", str(held_credential))
    _cli(pipeline, "resume", "--provider", "x")
    done = pipeline.wait_final(posts.values())
    assert {(p.state, p.attempts) for p in done.values()} == {("done", 1)}


def _cli_with(
    pipeline: Pipeline, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", *args],
        env={**pipeline.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
