"""Threads through real workers: each part a reply to the one before, created once.

The stand-in providers run strict (every create creates, replies only to posts that
exist), so a part posted twice, or a reply to the wrong part, shows in their ledger.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from publisher.core import service
from publisher.core.models import PostStep
from publisher.sandbox import Sandbox
from tests.conftest import SQLITE_ONLY
from tests.support.pipeline import Pipeline, running_pipeline, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=3.0, strict=True) as running:
        yield running


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with running_pipeline(
        tmp_path, database_url, sandbox, PUBLISHER_RECONCILE_TIMEOUT="10"
    ) as running:
        yield running


def _thread(pipeline: Pipeline, provider: str, texts: list[str]) -> int:
    account = pipeline.account()
    credential = pipeline.credential(
        account, provider, token=f"tok-{provider}-{abs(hash(texts[0]))}"
    )
    return pipeline.post(account, credential, None, parts=[{"text": t} for t in texts])


def _replied_to(payload: dict[str, Any]) -> str | None:
    if "in_reply_to_id" in payload:  # Mastodon
        return payload["in_reply_to_id"]
    for reference in payload.get("referenced_tweets", []):  # X
        return str(reference["id"])
    return None


def _steps(pipeline: Pipeline, post_id: int) -> dict[str, str]:
    with pipeline.sessions() as session:
        rows = session.scalars(select(PostStep).where(PostStep.post_id == post_id))
        return {row.key: row.external_id for row in rows}


def _assert_chain(pipeline: Pipeline, post_id: int, texts: list[str]) -> list[str]:
    """Each text created once, each a reply to the one before; the ids, in order."""
    records = {r.text: r for r in pipeline.sandbox.creates}
    ids = []
    for text in texts:
        assert pipeline.sandbox.creates_by_text()[text] == 1, text
        record = records[text]
        assert _replied_to(record.payload) == (ids[-1] if ids else None), text
        ids.append(record.id)
    assert _steps(pipeline, post_id) == {f"p{i}": id_ for i, id_ in enumerate(ids)}
    return ids


@pytest.mark.parametrize("provider", ["mastodon", "x"])
def test_a_thread_is_published_part_by_part_each_a_reply(pipeline: Pipeline, provider: str) -> None:
    # Given a three-part thread
    texts = [f"{provider} thread {n}/3" for n in (1, 2, 3)]
    post_id = _thread(pipeline, provider, texts)
    # When a worker publishes it
    pipeline.start_worker(concurrency=2)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    # Then it is done with part 1's id, each part created once as a reply to the one before
    assert post.state == "done", post.last_error_message
    ids = _assert_chain(pipeline, post_id, texts)
    assert post.external_id == ids[0]
    # And the call log names each part's call
    steps = [c.step for c in pipeline.calls(post_id) if c.method == "POST"]
    assert steps == ["p0", "p1", "p2"]
    # And the post's API lists each part's id
    with pipeline.sessions() as session:
        found = service.steps(session, [post_id])[post_id]
    assert [found[f"p{i}"].external_id for i in range(3)] == ids


@SQLITE_ONLY
def test_a_transient_failure_resumes_at_the_failed_part(pipeline: Pipeline) -> None:
    # Given a thread whose third part meets a 503 on its first try
    texts = ["resume 1/3", "resume 2/3", "[[fault:503]] resume 3/3"]
    post_id = _thread(pipeline, "mastodon", texts)
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    # Then the retry started at part 3: parts 1 and 2 were sent once, in attempt 1
    assert (post.state, post.attempts) == ("done", 2)
    _assert_chain(pipeline, post_id, texts)
    sent = [(c.attempt, c.step) for c in pipeline.calls(post_id) if c.method == "POST"]
    assert sent == [(1, "p0"), (1, "p1"), (1, "p2"), (2, "p2")]


@pytest.mark.parametrize("provider", ["mastodon", "x"])
def test_a_worker_killed_between_steps_leaves_each_part_created_once(
    pipeline: Pipeline, provider: str
) -> None:
    # Given a thread whose second part the provider stores at once but answers slowly
    texts = [f"{provider} crash 1/3", f"[[fault:slow]] {provider} crash 2/3", "crash 3/3"]
    post_id = _thread(pipeline, provider, texts)
    pipeline.start_worker("doomed", concurrency=1)
    pipeline.start_beat()
    # When the worker is killed while part 2 exists but is not yet confirmed
    wait_for(lambda: pipeline.sandbox.ids_for(texts[1]), 60)
    pipeline.kill("doomed", signal.SIGKILL)
    assert "p1" not in _steps(pipeline, post_id)
    # Then another worker rescues the post, finds part 2 by a lookup, and finishes
    pipeline.start_worker("rescuer", concurrency=1)
    post = pipeline.wait_final([post_id], timeout=120)[post_id]
    assert post.state == "done", post.last_error_message
    _assert_chain(pipeline, post_id, texts)
    assert "reconciled" in [c.category for c in pipeline.calls(post_id)]


@SQLITE_ONLY
def test_a_refused_part_cancels_the_thread_naming_it(pipeline: Pipeline) -> None:
    # Given a four-part thread whose third part the provider refuses
    texts = ["refused 1/4", "refused 2/4", "[[fault:403]] refused 3/4", "refused 4/4"]
    post_id = _thread(pipeline, "mastodon", texts)
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    # Then it is cancelled, naming the part and the parts already out
    assert (post.state, post.cancel_reason) == ("cancelled", "forbidden")
    message = post.last_error_message or ""
    assert "part 3 of 4" in message and "parts 1-2 of 4 are published" in message, message
    # And parts 1-2 are published once each, part 4 never sent
    ids = _assert_chain(pipeline, post_id, texts[:2])
    assert pipeline.sandbox.creates_by_text()[texts[3]] == 0
    assert _steps(pipeline, post_id) == {"p0": ids[0], "p1": ids[1]}
    # And the notification says so
    notes = pipeline.notifications(post_id)
    assert [n.kind for n in notes] == ["forbidden"]
    assert "parts 1-2 of 4 are published" in notes[0].message


@SQLITE_ONLY
def test_a_webhook_thread_is_one_delivery_per_part(pipeline: Pipeline) -> None:
    # Given a webhook credential and a two-part thread
    texts = ["hook 1/2", "hook 2/2"]
    post_id = _thread(pipeline, "webhook", texts)
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    # Then each part was delivered once, naming its place and the part before
    bodies = [json.loads(d.body) for d in pipeline.sandbox.deliveries]
    assert sorted(b["text"] for b in bodies) == texts
    deliveries = {b["text"]: b for b in bodies}
    first, second = deliveries[texts[0]], deliveries[texts[1]]
    assert (first["part"], first["parts"], first["in_reply_to"]) == (1, 2, None)
    assert (second["part"], second["in_reply_to"]) == (2, _steps(pipeline, post_id)["p0"])
    assert first["idempotency_key"] != second["idempotency_key"]


@SQLITE_ONLY
def test_a_thread_longer_than_the_lease_keeps_its_lease_between_parts(
    tmp_path: Path, database_url: str, sandbox: Sandbox
) -> None:
    # Given a provider that takes a second per call, a 6 s lease, and a 9-part thread
    # (about 9 s of calls: longer than the lease)
    sandbox.latency_seconds = 1.0
    env = {"PUBLISHER_HTTP_TIMEOUT": "3", "PUBLISHER_LEASE_SECONDS": "6"}
    with running_pipeline(tmp_path, database_url, sandbox, **env) as pipeline:
        texts = [f"long {n}/9" for n in range(1, 10)]
        post_id = _thread(pipeline, "mastodon", texts)
        pipeline.start_worker(concurrency=1)
        pipeline.start_beat()
        post = pipeline.wait_final([post_id], timeout=120)[post_id]
        # Then one attempt published it: the lease was renewed between parts, so the
        # sweep never took the post back from its worker
        assert (post.state, post.attempts, post.rescues) == ("done", 1, 0)
        _assert_chain(pipeline, post_id, texts)
