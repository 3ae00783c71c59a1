"""Posts held back at the worker, on real processes and both databases: a post found past
its lateness limit, and the kill switch (global, one credential, one provider)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

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
    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", *args],
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


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
