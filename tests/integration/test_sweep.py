"""The sweep's decisions against a real database, with the clock and the broker as fakes
(pure logic around real SQL): once per post, look-ahead, lost messages, rescues, pauses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control, service
from publisher.core.models import ApiCall, Post
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.engine import exchange, sweep
from publisher.engine.dependencies import Dependencies

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[int, float]] = []
        self.waiting: int | None = 0

    def enqueue(self, post_id: int, countdown: float) -> None:
        self.sent.append((post_id, countdown))


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
def deps(settings: Settings, sessions: sessionmaker[Session], broker: Broker) -> Dependencies:
    small = replace(
        settings, sweep_batch=3, sweep_interval=10.0, lookahead=10.0, enqueue_grace=60.0
    )
    return Dependencies(
        small,
        sessions,
        token_box(small),
        exchange.new_session(),
        broker.enqueue,
        clock=lambda: T0,
        backlog=lambda: broker.waiting,
    )


def _posts(deps: Dependencies, *offsets: float) -> list[int]:
    with deps.sessions.begin() as session:
        account = service.create_account(session, "sweep")
        credential = service.add_credential(
            session, deps.box, account.id, "webhook", "http://127.0.0.1:9/h", "tok"
        )
        ids = []
        for offset in offsets:
            post = service.create_post(session, account.id, credential.id, f"at {offset}")
            service.approve(session, post.id, T0, T0 + timedelta(seconds=offset))
            ids.append(post.id)
        return ids


def test_due_posts_go_out_once_in_batches(deps: Dependencies, broker: Broker) -> None:
    ids = _posts(deps, *[-5] * 7)
    assert sweep.run(deps).enqueued == 7
    assert sorted(i for i, _ in broker.sent) == sorted(ids)
    assert all(countdown == 0 for _, countdown in broker.sent)
    assert sweep.run(deps).enqueued == 0  # marked: not sent again


def test_lookahead_sends_soon_due_posts_with_a_countdown(
    deps: Dependencies, broker: Broker
) -> None:
    soon, later = _posts(deps, 5, 60)
    sweep.run(deps)
    assert broker.sent == [(soon, 5.0)]
    assert later not in [i for i, _ in broker.sent]


def test_lost_message_is_resent_after_grace_unless_the_queue_is_busy(
    deps: Dependencies, broker: Broker
) -> None:
    (post_id,) = _posts(deps, 0)
    sweep.run(deps)
    later = replace(deps, clock=lambda: T0 + timedelta(seconds=61))
    broker.waiting = 25  # a backlog: the message is still waiting its turn
    assert sweep.run(later).enqueued == 0
    broker.waiting = 0  # an empty queue: the message was lost (Redis restarted)
    assert sweep.run(later).enqueued == 1
    assert [i for i, _ in broker.sent] == [post_id, post_id]


def test_expired_lease_is_rescued_refunded_and_marked_ambiguous(deps: Dependencies) -> None:
    from publisher.engine import lock

    (post_id,) = _posts(deps, 0)
    with deps.sessions.begin() as session:
        job = lock.claim(session, post_id, "dead-worker", T0, timedelta(seconds=30), 5)
        assert job is not None
        session.add(
            ApiCall(
                post_id=post_id,
                attempt=1,
                provider="webhook",
                method="POST",
                url="http://127.0.0.1:9/h",
                category="in_flight",
            )
        )
    assert sweep.run(replace(deps, clock=lambda: T0 + timedelta(seconds=10))).rescued == 0
    report = sweep.run(replace(deps, clock=lambda: T0 + timedelta(seconds=31)))
    assert report.rescued == 1
    with deps.sessions() as session:
        post = session.get(Post, post_id)
        assert post is not None
        assert (post.state, post.attempts, post.ambiguous) == ("retry", 0, True)
        categories = session.scalars(select(ApiCall.category)).all()
    assert categories == ["abandoned"]


def test_kill_switch_stops_the_sweep(deps: Dependencies, broker: Broker) -> None:
    _posts(deps, 0)
    with deps.sessions.begin() as session:
        control.set_paused(session, True, T0)
    report = sweep.run(deps)
    assert report.paused and report.enqueued == 0 and broker.sent == []
    with deps.sessions.begin() as session:
        control.resume(session, T0)
    assert sweep.run(deps).enqueued == 1


def test_heartbeat_counts_sweeps(deps: Dependencies) -> None:
    for _ in range(3):
        sweep.run(deps)
    with deps.sessions() as session:
        beat = control.read(session, control.HEARTBEAT)
    assert beat is not None and beat["count"] == 3


def test_countdown_is_taken_when_each_message_is_sent(deps: Dependencies, broker: Broker) -> None:
    # Given a clock that advances 0.1 s with every reading (a slow sweep)
    ticks = iter(range(10_000))
    slow = replace(deps, clock=lambda: T0 + timedelta(seconds=next(ticks) / 10))
    _posts(deps, 5, 5, 5)
    sweep.run(slow)
    # Then each countdown still aims at the post's due time, as read at its own send
    countdowns = [countdown for _, countdown in broker.sent]
    assert len(countdowns) == 3
    assert countdowns == sorted(countdowns, reverse=True)
    assert countdowns[0] < 5.0
