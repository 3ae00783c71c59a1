"""The sweep's decisions against a real database, with the clock and the broker as fakes
(pure logic around real SQL): once per post, look-ahead, lost messages, rescues, pauses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
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


class Batches:
    """The sweep's batch statements (the walk of the due index, marked in the same
    statement where the database can), with their named parameters."""

    def __init__(self, engine: Engine) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[Any] = []  # the parameters as the driver got them
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _c: Any, _cur: Any, sql: str, raw: Any, context: Any, _m: Any) -> None:
        if "FROM posts AS due" in sql and context.compiled is not None:  # not our EXPLAIN
            self.sent.append((sql, dict(context.compiled_parameters[0])))
            self.raw.append(raw)

    def after_ids(self) -> list[int]:
        """The key each statement walked on from (the id half)."""
        return [params["after_id"] for _, params in self.sent if "after_id" in params]


def _backlog(deps: Dependencies, count: int, offset: float = -5) -> list[int]:
    """``count`` approved posts due at one instant (bulk-inserted: approving one by one is
    slow); returns their ids in walk order."""
    (first,) = _posts(deps, offset)
    with deps.sessions.begin() as session:
        post = session.get(Post, first)
        assert post is not None
        same = {c: getattr(post, c) for c in ("account_id", "credential_id", "state")}
        same |= {"next_run_at": post.next_run_at, "scheduled_at": post.scheduled_at}
        rows = [{"text": f"backlog {i}", **same} for i in range(count - 1)]
        session.execute(insert(Post), rows)
        return list(session.scalars(select(Post.id).where(Post.id >= first).order_by(Post.id)))


def test_a_large_backlog_goes_out_once_each_batch_walking_on_from_the_last_key(
    deps: Dependencies, broker: Broker, engine: Engine
) -> None:
    # Given 3,000 posts due at one instant, and batches of 500
    ids = _backlog(deps, 3000)
    batches = Batches(engine)
    # When one sweep runs
    assert (
        sweep.run(replace(deps, settings=replace(deps.settings, sweep_batch=500))).enqueued == 3000
    )
    # Then each post went out exactly once
    sent = [post_id for post_id, _ in broker.sent]
    assert len(sent) == 3000 and set(sent) == set(ids)
    # And each batch started after the last post of the one before: none reread them
    assert batches.after_ids() == [ids[k * 500 - 1] for k in range(1, 7)]
    assert sweep.run(deps).enqueued == 0


def test_the_walk_crosses_instants_and_ties_in_key_order(
    deps: Dependencies, broker: Broker, engine: Engine
) -> None:
    # Given posts at three instants, two of them shared (batches of 3)
    ids = _posts(deps, -5, -5, -5, -5, -3, -3, -1)
    batches = Batches(engine)
    sweep.run(deps)
    # Then they went out in key order, each batch bounded by the last key before it
    assert [post_id for post_id, _ in broker.sent] == ids
    assert batches.after_ids() == [ids[2], ids[5]]


def test_without_returning_the_walk_selects_then_marks(
    deps: Dependencies, broker: Broker, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database without UPDATE ... RETURNING (SQLite before 3.35)
    monkeypatch.setattr(engine.dialect, "update_returning", False)
    ids = _backlog(deps, 10)
    batches = Batches(engine)
    assert sweep.run(deps).enqueued == 10
    assert sorted(post_id for post_id, _ in broker.sent) == ids
    assert all(sql.lstrip().startswith("SELECT") for sql, _ in batches.sent)
    assert batches.after_ids() == [ids[2], ids[5], ids[8]]
    assert sweep.run(deps).enqueued == 0


@pytest.mark.parametrize("switch", ["credential", "provider"])
def test_held_posts_amid_due_posts_neither_block_the_walk_nor_go_out(
    deps: Dependencies, broker: Broker, switch: str
) -> None:
    # Given due posts, and among them (at the same instant) more held posts than a batch
    before = _posts(deps, -5, -5)
    held = _held_posts(deps, 4, -5)
    after = _posts(deps, -5, -5, -4)
    with deps.sessions.begin() as session:
        if switch == "credential":
            credential_id = session.get_one(Post, held[0]).credential_id
            control.set_credential_paused(session, credential_id, True, T0)
        else:
            control.set_provider_paused(session, "mastodon", True, T0)
    # When the sweep runs (batches of 3)
    assert sweep.run(deps).enqueued == 5
    # Then every free post went out, and no held one
    assert [post_id for post_id, _ in broker.sent] == before + after
    with deps.sessions() as session:
        marks = session.scalars(select(Post.enqueued_at).where(Post.id.in_(held))).all()
    assert marks == [None] * 4


def _held_posts(deps: Dependencies, count: int, offset: float) -> list[int]:
    """Posts of a Mastodon credential of their own (the one a test then pauses)."""
    with deps.sessions.begin() as session:
        account = service.create_account(session, "held")
        credential = service.add_credential(
            session, deps.box, account.id, "mastodon", "https://mastodon.example", "tok"
        )
        ids = []
        for i in range(count):
            post = service.create_post(session, account.id, credential.id, f"held {i}")
            service.approve(session, post.id, T0, T0 + timedelta(seconds=offset))
            ids.append(post.id)
        return ids


def test_the_batch_statement_walks_the_due_index_and_marks_by_primary_key(
    deps: Dependencies, engine: Engine
) -> None:
    # Given a backlog the planner knows about
    _backlog(deps, 1200)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    batches = Batches(engine)
    sweep.run(replace(deps, settings=replace(deps.settings, sweep_batch=500)))
    sql, raw = batches.sent[1][0], batches.raw[1]  # a batch walking on from a key
    # Then its plan seeks the due index from the key and marks through the primary key
    with engine.connect() as connection:
        connection.exec_driver_sql("UPDATE posts SET enqueued_at = NULL")
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(raw))
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "USING INDEX ix_posts_due (next_run_at=? AND id>?)" in plan
            assert "INTEGER PRIMARY KEY" in plan and "TEMP B-TREE" not in plan
        else:
            rows = connection.exec_driver_sql("EXPLAIN " + sql, raw)
            plan = "\n".join(row[0] for row in rows)
            assert "Index Scan using ix_posts_due" in plan
            assert "ROW(next_run_at, id) > ROW(" in plan
            assert "Index Scan using pk_posts" in plan and "Sort" not in plan
        connection.rollback()


@pytest.mark.parametrize(
    ("queue", "allowed"),
    [
        (QueueState(waiting=0), 4),
        (QueueState(waiting=3), 1),
        (QueueState(waiting=4), 0),
        (QueueState(waiting=9000), 0),
        (QueueState(waiting=None), 4),  # Redis cannot say: one sweep's worth, capped
    ],
)
def test_room(queue: QueueState, allowed: int) -> None:
    assert sweep.room(queue, max_backlog=4) == allowed


def _capped(deps: Dependencies, max_backlog: int) -> Dependencies:
    return replace(deps, settings=replace(deps.settings, max_backlog=max_backlog))


def _sent_and_deferred(deps: Dependencies) -> tuple[int, int]:
    report = sweep.run(deps)
    return report.enqueued, report.deferred


def _marked(deps: Dependencies, ids: list[int]) -> list[int]:
    with deps.sessions() as session:
        query = select(Post.id).where(Post.id.in_(ids), Post.enqueued_at.is_not(None))
        return sorted(session.scalars(query))


def test_a_sweep_sends_only_what_the_queue_lacks_earliest_first(
    deps: Dependencies, broker: Broker
) -> None:
    # Given 10 due posts at three instants (batches of 3), and room for 4 in the queue
    ids = _posts(deps, -9, -9, -9, -5, -5, -5, -5, -1, -1, -1)
    capped = _capped(deps, 4)
    # When a sweep runs: it sends the 4 earliest, and leaves the other 6 due, unmarked
    assert _sent_and_deferred(capped) == (4, 6)
    assert [i for i, _ in broker.sent] == ids[:4]
    assert _marked(deps, ids) == ids[:4]
    with deps.sessions() as session:
        beat = control.read(session, control.HEARTBEAT)
    assert beat is not None and beat["deferred"] == 6  # the operator sees it
    # When the workers have taken one message (3 wait): the next sweep tops up by one
    broker.queue = QueueState(waiting=3, oldest_sent_at=T0)
    broker.sent.clear()
    assert _sent_and_deferred(capped) == (1, 5)
    assert [i for i, _ in broker.sent] == [ids[4]]
    # When the queue is full: nothing goes out
    broker.queue = QueueState(waiting=4, oldest_sent_at=T0)
    assert _sent_and_deferred(capped) == (0, 5)
    # When the queue cannot be read: one sweep's worth, capped, of posts never sent
    broker.queue = QueueState(waiting=None)
    broker.sent.clear()
    assert _sent_and_deferred(capped) == (4, 1)
    assert [i for i, _ in broker.sent] == ids[5:9]
    # And once there is room for them, every post has gone out once
    broker.queue = QueueState(waiting=0)
    assert _sent_and_deferred(capped) == (1, 0)
    assert _marked(deps, ids) == ids


def test_lost_messages_go_out_again_first_within_the_cap(
    deps: Dependencies, broker: Broker
) -> None:
    # Given 6 due posts, room for 4, and a first sweep that sent the 4 earliest
    ids = _posts(deps, -6, -5, -4, -3, -2, -1)
    assert sweep.run(_capped(deps, 4)).enqueued == 4
    broker.sent.clear()
    # When Redis lost their messages (an empty queue), past the grace period
    later = _capped(replace(deps, clock=lambda: T0 + timedelta(seconds=61)), 4)
    # Then the lost ones go out again, the earliest first, and the rest wait their turn
    assert _sent_and_deferred(later) == (4, 2)
    assert [i for i, _ in broker.sent] == ids[:4]


def test_a_long_sweeps_messages_still_waiting_are_not_sent_again(
    deps: Dependencies, broker: Broker
) -> None:
    # Given a slow sweep: 9 posts in batches of 3, each message taking 2 s to send
    ids = _posts(deps, -5, -5, -5, -5, -5, -5, -5, -5, -5)
    now = [T0]

    def slow_send(post_id: int, countdown: float) -> None:
        now[0] += timedelta(seconds=2)
        broker.sent.append((post_id, countdown))

    sweep.run(replace(deps, clock=lambda: now[0], enqueue=slow_send))
    assert [i for i, _ in broker.sent] == ids
    broker.sent.clear()
    # When the first batch's messages were lost and the later two still wait (the
    # oldest was sent at T0 + 8 s, 12 s after the sweep started)
    broker.queue = QueueState(waiting=6, oldest_sent_at=T0 + timedelta(seconds=8))
    report = sweep.run(replace(deps, clock=lambda: T0 + timedelta(seconds=120)))
    # Then only the first batch goes out again: each batch was marked as it went out
    assert report.enqueued == 3
    assert [i for i, _ in broker.sent] == ids[:3]
