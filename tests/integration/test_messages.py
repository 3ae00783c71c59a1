"""Messages on a real Redis: a lost one is sent again behind a backlog (and a waiting one
is not), the sweep leaves at most ``PUBLISHER_MAX_BACKLOG`` waiting (and tops the queue up
as workers drain it), and a database outage at the claim keeps the message instead of
dropping it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update

from publisher.core import service
from publisher.core.models import Post, utcnow
from publisher.ops.constants import QUEUE
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BACKLOG = 3000
CAP = 20  # PUBLISHER_MAX_BACKLOG of the cap's test


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _sweep(pipeline: Pipeline) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "publisher.cli", "sweep"],
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_lost_message_is_resent_behind_a_backlog_and_a_waiting_one_is_not(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with Sandbox() as sandbox:
        pipeline = Pipeline(
            tmp_path,
            f"sqlite:///{tmp_path / 'publisher.db'}",
            redis_server.url,
            sandbox,
            PUBLISHER_ENQUEUE_GRACE="2",
            PUBLISHER_SWEEP_BATCH="1000",
        )
        # Given thousands of messages waiting in the queue (no worker consumes them)
        account = pipeline.account()
        credential = pipeline.credential(account, "webhook")
        with pipeline.sessions.begin() as session:
            for i in range(BACKLOG):
                post = service.create_post(session, account, credential, f"backlog {i}")
                service.approve(session, post.id, utcnow())
        assert _sweep(pipeline)["enqueued"] == BACKLOG
        # And a post marked as sent long ago whose message was lost
        lost = pipeline.post(account, credential, "lost message")
        with pipeline.sessions.begin() as session:
            session.execute(
                update(Post)
                .where(Post.id == lost)
                .values(enqueued_at=utcnow() - timedelta(seconds=120))
            )
        client = redis.Redis.from_url(redis_server.url)
        # When the grace period has passed for every mark (the backlog waits longer)
        wait_for(lambda: _older_than_grace(pipeline), 10)
        report = _sweep(pipeline)
        # Then only the lost post was sent again: nothing waiting was sent twice
        assert report["enqueued"] == 1
        assert client.llen(QUEUE) == BACKLOG + 1
        newest = json.loads(client.lindex(QUEUE, 0) or b"{}")
        assert newest["headers"]["argsrepr"] == f"({lost},)"


def _older_than_grace(pipeline: Pipeline) -> bool:
    with pipeline.sessions() as session:
        newest = session.query(Post.enqueued_at).order_by(Post.enqueued_at.desc()).first()
    assert newest is not None and newest[0] is not None
    return bool(utcnow() - newest[0] > timedelta(seconds=3))


def test_a_sweep_leaves_at_most_max_backlog_waiting_and_every_post_goes_out_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with Sandbox(strict=True) as sandbox:  # every create creates: once rests on publisher
        pipeline = Pipeline(
            tmp_path,
            f"sqlite:///{tmp_path / 'publisher.db'}",
            redis_server.url,
            sandbox,
            PUBLISHER_MAX_BACKLOG=str(CAP),
        )
        client = redis.Redis.from_url(redis_server.url)
        try:
            # Given 50 due posts, room for 20 messages, and no worker yet
            account = pipeline.account()
            credential = pipeline.credential(account, "webhook")
            texts = [f"capped {i}" for i in range(50)]
            ids = [pipeline.post(account, credential, text) for text in texts]
            # When a sweep runs: 20 messages, the 20 earliest posts marked, 30 left due
            assert _sent_and_deferred(pipeline) == (20, 30)
            assert client.llen(QUEUE) == CAP and _marked(pipeline) == ids[:20]
            # And another, with the queue still full: nothing more
            assert _sent_and_deferred(pipeline) == (0, 30)
            assert client.llen(QUEUE) == CAP
            # When a worker drains the queue (one thread: the credential is never busy,
            # which would hand a post back to the sweep), the next sweep tops it up
            pipeline.start_worker(concurrency=1)
            pipeline.wait_final(ids[:20])
            wait_for(lambda: client.llen(QUEUE) == 0, 30)
            pipeline.kill("worker", signal.SIGTERM)
            assert _sent_and_deferred(pipeline) == (20, 10)
            assert client.llen(QUEUE) == CAP and _marked(pipeline) == ids[20:40]
            # Then with workers and beat, every post is published exactly once
            pipeline.start_worker(concurrency=2)
            pipeline.start_beat()
            posts = pipeline.wait_final(ids, timeout=90)
            assert {post.state for post in posts.values()} == {"done"}
            assert [sandbox.create_count(text=text) for text in texts] == [1] * 50
        finally:
            client.close()
            pipeline.stop()


def _sent_and_deferred(pipeline: Pipeline) -> tuple[object, object]:
    report = _sweep(pipeline)
    return report["enqueued"], report["deferred"]


def _marked(pipeline: Pipeline) -> list[int]:
    """The posts marked as enqueued (a finished post no longer carries its mark)."""
    with pipeline.sessions() as session:
        query = select(Post.id).where(Post.enqueued_at.is_not(None)).order_by(Post.id)
        return list(session.scalars(query))


@pytest.mark.postgres
def test_a_database_outage_at_the_claim_keeps_the_message(
    tmp_path: Path, redis_server: RedisServer, postgres_binaries: Path
) -> None:
    with PostgresServer(bin_dir=postgres_binaries) as postgres, Sandbox() as sandbox:
        # Given a worker and no beat: nothing but the message itself can start the post
        pipeline = Pipeline(tmp_path, postgres.url, redis_server.url, sandbox)
        account = pipeline.account()
        post_id = pipeline.post(account, pipeline.credential(account, "webhook"), "outage")
        pipeline.start_worker(concurrency=1)
        try:
            # When the database is down as the message arrives
            postgres.stop_server()
            _send(pipeline, post_id)
            wait_for(lambda: "database unavailable; retrying" in pipeline.log("worker"), 60)
            postgres.start_server()
            # Then the kept message publishes the post once the database is back
            post = pipeline.wait_final([post_id], timeout=120)[post_id]
            assert post.state == "done"
            assert sandbox.create_count(text="outage") == 1
        finally:
            pipeline.stop()


def _send(pipeline: Pipeline, post_id: int) -> None:
    from publisher.ops.celery_app import app

    with app.connection_for_write(pipeline.settings.broker_url) as connection:
        app.send_task("publisher.publish", (post_id,), connection=connection)
