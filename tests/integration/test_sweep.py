"""The sweep's decisions against a real database, with the clock and the broker as fakes
(pure logic around real SQL): once per post, look-ahead, lost messages, rescues, pauses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control, service
from publisher.core.models import ApiCall, Notification, Post
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.engine import exchange, lock, sweep
from publisher.engine.dependencies import Dependencies, QueueState

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[int, float]] = []
        self.queue = QueueState(waiting=0)

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
        backlog=lambda: broker.queue,
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


def test_lost_message_is_resent_after_grace(deps: Dependencies, broker: Broker) -> None:
    (post_id,) = _posts(deps, 0)
    sweep.run(deps)
    assert sweep.run(replace(deps, clock=lambda: T0 + timedelta(seconds=59))).enqueued == 0
    # An empty queue past the grace period: the message was lost (Redis restarted).
    assert sweep.run(replace(deps, clock=lambda: T0 + timedelta(seconds=61))).enqueued == 1
    assert [i for i, _ in broker.sent] == [post_id, post_id]


def test_a_lost_message_is_resent_under_a_backlog_but_a_waiting_one_is_not(
    deps: Dependencies, broker: Broker
) -> None:
    # Given two posts marked as sent at T0 and T0+30 s
    (lost,) = _posts(deps, 0)
    sweep.run(deps)
    (waiting,) = _posts(deps, 30)
    sweep.run(replace(deps, clock=lambda: T0 + timedelta(seconds=30)))
    broker.sent.clear()
    later = replace(deps, clock=lambda: T0 + timedelta(seconds=120))
    # When the queue holds a backlog whose oldest message was sent at T0+30 s (the
    # second post's): the first post's message is no longer in the queue.
    broker.queue = QueueState(waiting=5000, oldest_sent_at=T0 + timedelta(seconds=30))
    assert sweep.run(later).enqueued == 1
    assert [i for i, _ in broker.sent] == [lost]
    # Then the waiting one is never sent twice while its message waits
    assert sweep.run(replace(deps, clock=lambda: T0 + timedelta(seconds=300))).enqueued == 0
    assert waiting not in [i for i, _ in broker.sent]


@pytest.mark.parametrize(
    ("queue", "cutoff"),
    [
        (QueueState(waiting=None), None),  # Redis cannot say: send nothing again
        (QueueState(waiting=0), T0 - timedelta(seconds=60)),
        (QueueState(waiting=9), None),  # a backlog of unknown age: it may all be waiting
        (QueueState(9, T0 - timedelta(seconds=10)), T0 - timedelta(seconds=60)),
        (QueueState(9, T0 - timedelta(seconds=600)), T0 - timedelta(seconds=605)),
    ],
)
def test_resend_cutoff(queue: QueueState, cutoff: datetime | None) -> None:
    assert sweep.resend_cutoff(queue, T0, timedelta(seconds=60)) == cutoff


def test_expired_lease_is_rescued_refunded_and_marked_ambiguous(deps: Dependencies) -> None:
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


def _claim(deps: Dependencies, post_id: int, at: datetime) -> lock.Job:
    with deps.sessions.begin() as session:
        job = lock.claim(session, post_id, "worker-1", at, timedelta(seconds=30), 5)
    assert job is not None
    return job


def test_a_post_rescued_too_often_returns_to_draft_with_a_notification(
    deps: Dependencies,
) -> None:
    # Given a post whose worker dies mid-attempt every time (max_rescues = 3)
    (post_id,) = _posts(deps, 0)
    at = T0
    for _ in range(3):
        _claim(deps, post_id, at)
        at += timedelta(seconds=31)
        assert sweep.run(replace(deps, clock=lambda at=at: at)).rescued == 1
    # When its lease expires a fourth time
    _claim(deps, post_id, at)
    at += timedelta(seconds=31)
    sweep.run(replace(deps, clock=lambda: at))
    # Then it is a draft, still marked ambiguous, and the user is told to check
    with deps.sessions() as session:
        post = session.get(Post, post_id)
        assert post is not None
        assert (post.state, post.rescues, post.ambiguous) == ("draft", 4, True)
        assert post.last_error_category == "rescued"
        kinds = session.scalars(select(Notification.kind)).all()
    assert kinds == ["rescued"]


def test_a_rescue_loses_to_a_worker_that_renewed_its_lease(deps: Dependencies) -> None:
    # Given a worker whose lease the sweep saw expired
    (post_id,) = _posts(deps, 0)
    job = _claim(deps, post_id, T0)
    late = T0 + timedelta(seconds=31)
    # When the worker renews it just before the rescue's write
    with deps.sessions.begin() as session:
        assert lock.renew(session, job, late, timedelta(seconds=30)) is not None
        rescued = sweep._rescue(session, _row(session, post_id), late, max_rescues=3)
    # Then the rescue changes nothing, and the worker still holds the post
    assert not rescued
    with deps.sessions() as session:
        post = session.get(Post, post_id)
        assert post is not None and (post.state, post.lease_owner) == ("running", "worker-1")


def test_a_rescued_post_cannot_be_renewed_by_its_old_worker(deps: Dependencies) -> None:
    (post_id,) = _posts(deps, 0)
    job = _claim(deps, post_id, T0)
    late = T0 + timedelta(seconds=31)
    assert sweep.run(replace(deps, clock=lambda: late)).rescued == 1
    with deps.sessions.begin() as session:
        assert lock.renew(session, job, late, timedelta(seconds=30)) is None


def _row(session: Session, post_id: int) -> object:
    return session.execute(
        select(Post.id, Post.version, Post.rescues, Post.account_id, Post.recurrence).where(
            Post.id == post_id
        )
    ).one()
