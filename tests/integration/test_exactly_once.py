"""Exactly once without the provider's help, on real processes and both databases.

The stand-in provider runs in strict mode: it ignores Idempotency-Key, accepts duplicate
text, and fails *after* storing the post (resets, 5xx, answers slower than the client's
timeout). Whatever exactly-once these tests see, publisher made it: each post created
once at the provider and ``done`` with the id the provider assigned.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from publisher.core import service
from publisher.core.models import Post, PostEvent, utcnow
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, running_pipeline, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

STRICT = ("mastodon", "x")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=3.0, strict=STRICT) as running:
        yield running


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with running_pipeline(
        tmp_path, database_url, sandbox, PUBLISHER_RECONCILE_TIMEOUT="4"
    ) as running:
        yield running


def _created_once_and_done(pipeline: Pipeline, post_id: int) -> Post:
    """The post is done, created exactly once, with the id the provider assigned."""
    post = pipeline.get(post_id)
    assert post.state == "done", (post.state, post.last_error_message)
    assert pipeline.sandbox.ids_for(post.text) == [post.external_id]
    return post


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


AFTER_STORE = ("503_after", "502_after", "504_after", "reset_after", "slow", "malformed")


def test_faults_after_the_post_was_stored_are_reconciled_not_resent(pipeline: Pipeline) -> None:
    # Given a provider that stores each post, then fails the answer, in every way
    pipeline.start_worker(concurrency=4)
    pipeline.start_beat()
    account = pipeline.account()
    posts = {}
    for provider in ("mastodon", "x"):
        credential = pipeline.credential(account, provider, token=f"tok-{provider}")
        for fault in AFTER_STORE:
            text = f"[[fault:{fault}]] after store, {provider}"
            posts[pipeline.post(account, credential, text)] = (provider, fault)
    # When the workers retry, each looks its post up first
    pipeline.wait_final(posts, timeout=120)
    # Then each was created once and is done with the provider's id, found by a lookup
    for post_id, case in posts.items():
        post = pipeline.get(post_id)
        assert post.state == "done", (case, post.state, post.last_error_message)
        assert pipeline.sandbox.ids_for(post.text) == [post.external_id], case
        assert "reconciled" in [c.category for c in pipeline.calls(post_id)], case


def test_a_frozen_worker_writes_nothing_when_it_wakes(pipeline: Pipeline) -> None:
    # Given a worker inside a slow create (stored at once, answered 3 s later)
    pipeline.start_worker("frozen", concurrency=1)
    pipeline.start_beat()
    account = pipeline.account()
    post_id = pipeline.post(account, pipeline.credential(account, "x"), "[[fault:slow]] frozen")
    text = pipeline.get(post_id).text
    wait_for(lambda: pipeline.sandbox.ids_for(text), 30)
    # When it freezes mid-call, past its lease
    main = pipeline.processes["frozen"].pid
    frozen = [main, *_children(main)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        # Then the post is rescued and finished by another worker, from a lookup
        pipeline.start_worker("rescuer", concurrency=1)
        pipeline.wait_final([post_id], timeout=90)
        post = _created_once_and_done(pipeline, post_id)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    # And the woken worker, holding the provider's answer, writes nothing
    wait_for(lambda: "lease lost" in pipeline.log("frozen"), 30, lambda: pipeline.log("frozen"))
    after = pipeline.get(post_id)
    assert (after.state, after.external_id, after.version) == (
        "done",
        post.external_id,
        post.version,
    )
    with pipeline.sessions() as session:
        moves = session.scalars(select(PostEvent.trigger).where(PostEvent.post_id == post_id)).all()
    assert moves.count("succeed") == 1
    assert pipeline.sandbox.ids_for(text) == [post.external_id]


def test_an_ambiguous_post_keeps_its_flag_through_a_cancel_and_reconciles_after(
    pipeline: Pipeline,
) -> None:
    # Given a post whose create the provider stored but answered too late
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    account = pipeline.account()
    post_id = pipeline.post(
        account, pipeline.credential(account, "mastodon"), "[[fault:slow]] paused midway"
    )
    text = pipeline.get(post_id).text
    wait_for(lambda: pipeline.sandbox.ids_for(text), 30)
    # When the account is paused before the retry, which the engine then cancels
    with pipeline.sessions.begin() as session:
        service.update_account(session, account, paused=True)
    cancelled = pipeline.wait_final([post_id], final={"cancelled"})[post_id]
    assert (cancelled.cancel_reason, cancelled.ambiguous) == ("paused", True)
    # And the user resumes the account, reopens the post and approves it again
    with pipeline.sessions.begin() as session:
        service.update_account(session, account, paused=False)
        service.reopen(session, post_id, utcnow())
        service.approve(session, post_id, utcnow())
    # Then the worker finds the post instead of publishing it a second time
    pipeline.wait_final([post_id], final={"done"})
    _created_once_and_done(pipeline, post_id)


def test_lookups_that_cannot_tell_end_in_draft_as_unconfirmed(pipeline: Pipeline) -> None:
    # Given an X post whose create failed after X stored it, and lookups that fail
    pipeline.sandbox.fail_lookups(None, status=503)
    account = pipeline.account()
    post_id = pipeline.post(account, pipeline.credential(account, "x"), "[[fault:503_after]] lost")
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    # When the reconcile timeout (4 s here) passes
    post = pipeline.wait_final([post_id], timeout=90)[post_id]
    # Then the post is a draft marked unconfirmed, never re-sent, and the user is told
    assert (post.state, post.last_error_category, post.ambiguous) == ("draft", "unconfirmed", True)
    assert post.attempts == 1  # waiting for a lookup used no attempt
    assert len(pipeline.sandbox.ids_for(post.text)) == 1
    assert [n.kind for n in pipeline.notifications(post_id)] == ["unconfirmed"]


def test_two_posts_with_one_text_never_share_a_remote_post(pipeline: Pipeline) -> None:
    # Given a published X post, and a second post with the same text whose earlier
    # attempt may have landed (so its worker looks first, and finds the first's post)
    account = pipeline.account()
    credential = pipeline.credential(account, "x")
    first = pipeline.post(account, credential, "same words")
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    pipeline.wait_final([first])
    second = pipeline.post(account, credential, "same words", approve=False)
    with pipeline.sessions.begin() as session:
        session.execute(
            update(Post).where(Post.id == second).values(ambiguous=True, first_started_at=utcnow())
        )
    with pipeline.sessions.begin() as session:
        service.approve(session, second, utcnow())
    # Then the second post gets a remote post of its own
    posts = pipeline.wait_final([first, second])
    assert posts[second].state == "done"
    assert posts[second].external_id != posts[first].external_id
    assert sorted(pipeline.sandbox.ids_for("same words")) == sorted(
        [posts[first].external_id, posts[second].external_id]
    )
