"""The sweep under its lease (``tasks.sweep_alone``, what the Celery task runs) on a real
redis-server and a real database: a sweep longer than its lease keeps it and a second one
is skipped meanwhile; a sweep that loses its lease stops at its next batch. And the Celery
sweep and notification deliveries, in real processes, wait for a lease another holds."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.models import Post, utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.engine import exchange
from publisher.engine.dependencies import Dependencies, QueueState
from publisher.engine.sweep import SweepReport
from publisher.ops import tasks
from publisher.ops.constants import NOTIFY_LOCK_KEY, SWEEP_LOCK_KEY
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration]


class Broker:
    """Records each message, and who held the sweep's lease as it went out."""

    def __init__(self, client: redis.Redis, seconds_per_message: float = 0.0) -> None:
        self.client = client
        self.delay = seconds_per_message
        self.sent: list[int] = []
        self.holders: list[bytes | None] = []

    def enqueue(self, post_id: int, _countdown: float) -> None:
        time.sleep(self.delay)
        self.holders.append(self.client.get(SWEEP_LOCK_KEY))
        self.sent.append(post_id)


def _deps(settings: Settings, sessions: sessionmaker[Session], broker: Broker) -> Dependencies:
    one_by_one = replace(settings, sweep_batch=1)
    return Dependencies(
        one_by_one,
        sessions,
        token_box(one_by_one),
        exchange.new_session(),
        broker.enqueue,
        backlog=lambda: QueueState(waiting=0),
    )


def _posts(sessions: sessionmaker[Session], settings: Settings, count: int) -> list[int]:
    """``count`` posts due a second apart, in the past: the walk's order is their ids'."""
    start = utcnow() - timedelta(seconds=count + 60)
    with sessions.begin() as session:
        account = service.create_account(session, "lease")
        credential = service.add_credential(
            session, token_box(settings), account.id, "webhook", "http://127.0.0.1:9/h", "tok"
        )
        ids = []
        for i in range(count):
            post = service.create_post(session, account.id, credential.id, f"post {i}")
            service.approve(session, post.id, start, start + timedelta(seconds=i))
            ids.append(post.id)
        return ids


def _marked(sessions: sessionmaker[Session], ids: list[int]) -> list[int]:
    with sessions() as session:
        query = select(Post.id).where(Post.id.in_(ids), Post.enqueued_at.is_not(None))
        return sorted(session.scalars(query))


def test_a_sweep_longer_than_its_lease_keeps_it_and_a_second_one_is_skipped(
    settings: Settings, sessions: sessionmaker[Session], client: redis.Redis
) -> None:
    # Given 30 due posts sent one per batch, 0.05 s each: a 1.5 s sweep on a 0.5 s lease
    ids = _posts(sessions, settings, 30)
    broker = Broker(client, seconds_per_message=0.05)
    deps = _deps(settings, sessions, broker)
    first: list[SweepReport | None] = []
    sweeping = threading.Thread(target=lambda: first.append(tasks.sweep_alone(deps, client, 0.5)))
    sweeping.start()
    try:
        # When a second sweep starts after twice the lease's length
        wait_for(lambda: len(broker.sent) >= 20, 30)
        second = tasks.sweep_alone(deps, client, 0.5)
    finally:
        sweeping.join(30)
    # Then the second was skipped, and the first held the lease for its every message
    assert second is None
    assert len(set(broker.holders)) == 1 and None not in broker.holders
    (report,) = first
    assert report is not None and (report.enqueued, report.deferred) == (30, 0)
    assert broker.sent == ids
    # And it gave the lease back at the end
    assert client.get(SWEEP_LOCK_KEY) is None


def test_a_sweep_that_loses_its_lease_stops_at_its_next_batch(
    settings: Settings, sessions: sessionmaker[Session], client: redis.Redis
) -> None:
    # Given 10 due posts, sent two per batch
    ids = _posts(sessions, settings, 10)
    broker = Broker(client)
    deps = _deps(settings, sessions, broker)
    deps = replace(deps, settings=replace(deps.settings, sweep_batch=2))

    def taken_over(post_id: int, countdown: float) -> None:
        broker.enqueue(post_id, countdown)
        if len(broker.sent) == 3:  # the lease lapsed and another sweep took it
            client.set(SWEEP_LOCK_KEY, "another sweep", px=60_000)

    # When it loses the lease during its second batch
    report = tasks.sweep_alone(replace(deps, enqueue=taken_over), client, 30)
    # Then it finishes that batch, sends nothing more, and leaves the rest due, unmarked
    assert report is not None and (report.enqueued, report.deferred) == (4, 6)
    assert broker.sent == ids[:4]
    assert _marked(sessions, ids) == ids[:4]
    # And the other sweep's lease is untouched
    assert client.get(SWEEP_LOCK_KEY) == b"another sweep"


@pytest.mark.timeout(180)
def test_the_celery_sweep_and_deliveries_wait_for_a_lease_another_holds(
    tmp_path: Path, redis_server: RedisServer, client: redis.Redis
) -> None:
    with Sandbox() as sandbox:
        pipeline = Pipeline(
            tmp_path, f"sqlite:///{tmp_path / 'publisher.db'}", redis_server.url, sandbox
        )
        try:
            # Given another sweep and another delivery holding their leases
            client.set(SWEEP_LOCK_KEY, "someone else")
            client.set(NOTIFY_LOCK_KEY, "someone else")
            account = pipeline.account()
            post_id = pipeline.post(account, pipeline.credential(account), "[[fault:403]] wait")
            pipeline.start_worker(concurrency=1)
            pipeline.start_beat()
            # Then beat's sweeps are skipped, and the post is not sent
            wait_for(lambda: pipeline.log("control").count("sweep skipped") >= 2, 60)
            assert pipeline.get(post_id).enqueued_at is None
            # When the sweep's lease is free: the post goes out (and is refused: a notification)
            client.delete(SWEEP_LOCK_KEY)
            assert pipeline.wait_final([post_id])[post_id].state == "cancelled"
            # Then the notification waits while the delivery lease is another's
            skipped = pipeline.log("control").count("notification delivery skipped")
            wait_for(
                lambda: (
                    pipeline.log("control").count("notification delivery skipped") >= skipped + 2
                ),
                60,
            )
            assert sandbox.notifications == []
            # And goes out once the lease is free
            client.delete(NOTIFY_LOCK_KEY)
            wait_for(lambda: pipeline.notifications(post_id)[0].delivered_at is not None, 60)
            assert len(sandbox.notifications) == 1
        finally:
            pipeline.stop()
