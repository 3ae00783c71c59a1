"""Riding out the broker: the same worker and beat processes carry on after Redis restarts.

A Redis restart (clean, or a crash: SIGKILL) must not end a worker or beat. They
reconnect by themselves, and a post approved afterwards is published by those same
processes, not by replacements a supervisor started.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from publisher.core import control
from publisher.core.models import utcnow
from publisher.ops.supervisor import celery_command
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

HELD_FOR = 12  # s until the held post is due: longer than the outage takes to set up


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(strict=("mastodon", "x")) as running:
        yield running


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def pipeline(tmp_path: Path, redis_server: RedisServer, sandbox: Sandbox) -> Iterator[Pipeline]:
    # A long lookahead: the sweep sends a post's message well before it is due, so the
    # worker holds an unacknowledged message when Redis goes away.
    running = Pipeline(
        tmp_path,
        f"sqlite:///{tmp_path / 'publisher.db'}",
        redis_server.url,
        sandbox,
        PUBLISHER_LOOKAHEAD=str(2 * HELD_FOR),
    )
    yield running
    running.stop()


def _sweeps(pipeline: Pipeline) -> int:
    with pipeline.sessions() as session:
        value = control.read(session, control.HEARTBEAT) or {}
    return int(value.get("count", 0))


def _held_by_worker(redis_url: str) -> int:
    """Messages a worker has taken but not acknowledged (kombu's Redis ``unacked`` hash)."""
    with redis.Redis.from_url(redis_url) as client:
        return int(client.hlen("unacked"))


def _alive(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, int | None]:
    return {name: process.poll() for name, process in processes.items()}


def _publish_one(pipeline: Pipeline, text: str) -> None:
    account = pipeline.account()
    post_id = pipeline.post(account, pipeline.credential(account), f"{text} {account}")
    _assert_published_once(pipeline, post_id)


def _assert_published_once(pipeline: Pipeline, post_id: int) -> None:
    post = pipeline.wait_final([post_id], timeout=90)[post_id]
    assert post.state == "done", pipeline.log("worker")[-3000:]
    assert pipeline.sandbox.create_count(text=post.text) == 1


# The worker as the deploy units start it (gossip, mingle and heartbeat on), and as
# `publisher run` and the tests start it (without gossip and mingle).
DEPLOYED_WORKER = celery_command("worker", "--loglevel", "INFO", "--concurrency", "2")


@pytest.mark.parametrize("deployed", [True, False], ids=["deployed-worker", "run-worker"])
@pytest.mark.parametrize("crash", [False, True], ids=["restart", "kill-restart"])
def test_worker_and_beat_ride_out_a_redis_restart(
    pipeline: Pipeline, redis_server: RedisServer, crash: bool, deployed: bool
) -> None:
    # Given a running worker and beat that have published a post
    worker = pipeline.spawn("worker", DEPLOYED_WORKER) if deployed else pipeline.start_worker()
    processes = {"worker": worker, "beat": pipeline.start_beat()}
    pids = {name: process.pid for name, process in processes.items()}
    _publish_one(pipeline, "before the restart")
    # And a post due soon whose message the worker holds (a countdown) when Redis goes
    account = pipeline.account()
    held = pipeline.post(
        account,
        pipeline.credential(account),
        f"held across the restart {account}",
        scheduled_at=utcnow() + timedelta(seconds=HELD_FOR),
    )
    wait_for(lambda: pipeline.get(held).enqueued_at is not None, 30, lambda: pipeline.log("beat"))
    wait_for(lambda: _held_by_worker(redis_server.url) >= 1, 30, lambda: pipeline.log("worker"))

    # When Redis goes away (crash or clean) and comes back, empty, on the same port
    if crash:
        redis_server.kill()
        # Both processes notice, and keep failing to reconnect for a while (an outage)
        wait_for(
            lambda: (
                pipeline.log("worker").count("Cannot connect") >= 3
                and pipeline.log("beat").count("Redis unavailable") >= 3
            ),
            60,
            lambda: pipeline.log("worker")[-2000:] + pipeline.log("beat")[-2000:],
        )
    redis_server.restart()

    # Then beat sweeps again, the held post and a post approved now are published once
    # each, by the same processes
    after = _sweeps(pipeline)
    wait_for(
        lambda: _sweeps(pipeline) >= after + 2,
        90,
        lambda: pipeline.log("beat")[-3000:] + pipeline.log("worker")[-3000:],
    )
    _publish_one(pipeline, "after the restart")
    _assert_published_once(pipeline, held)
    assert _alive(processes) == {"worker": None, "beat": None}, (
        pipeline.log("beat")[-3000:] + pipeline.log("worker")[-3000:]
    )
    assert {name: process.pid for name, process in processes.items()} == pids
    assert "Unrecoverable error" not in pipeline.log("worker")


def test_a_late_ack_on_a_detached_channel_does_not_end_the_worker(
    redis_server: RedisServer,
) -> None:
    # Given a message delivered on a channel whose connection was then lost and
    # detached (what the consumer does before it reconnects)
    from kombu import Connection, Queue

    from publisher.ops import broker_workarounds

    broker_workarounds.install()
    connection = Connection(redis_server.url)
    channel = connection.channel()
    queue = Queue("late-ack", channel=channel)
    queue.declare()
    with Connection(redis_server.url) as sender:
        sender.SimpleQueue("late-ack").put({"post": 1})
    message = None
    for _ in range(50):
        message = queue.get(no_ack=False)
        if message is not None:
            break
    assert message is not None
    channel.connection.client = None
    channel.close()
    # When the task finishes and acknowledges it, then nothing is raised
    message.ack()


def test_acks_reuse_one_redis_client_per_pool_and_still_remove_the_message(
    redis_server: RedisServer,
) -> None:
    # Given messages delivered with late acks on publisher's channel
    from kombu import Connection, Queue

    from publisher.ops import broker_workarounds

    broker_workarounds.install()
    with Connection(redis_server.url) as connection, Connection(redis_server.url) as sender:
        channel = connection.channel()
        queue = Queue("reuse", channel=channel)
        queue.declare()
        for post in range(3):
            sender.SimpleQueue("reuse").put({"post": post})
        clients = []
        for _ in range(3):
            message = wait_for(lambda: queue.get(no_ack=False), 10)
            # When each is acknowledged
            message.ack()
            with channel.conn_or_acquire() as client:
                clients.append(client)
        # Then one client served them all, and nothing is left unacknowledged
        assert all(client is clients[0] for client in clients)
        assert redis.Redis.from_url(redis_server.url).hlen("unacked") == 0
        # And a channel whose pool was dropped (a reconnection) builds a client on the new one
        channel._disconnect_pools()
        with channel.conn_or_acquire() as client:
            assert client is not clients[0] and client.ping()
