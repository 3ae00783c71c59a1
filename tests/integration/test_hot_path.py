"""The worker's hot path on real SQL (SQLite and PostgreSQL), in this process: what one
publish costs the database, a claim that loses its race, the fences on the final write,
and the cached kill switch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control, service
from publisher.core.models import POSTS, Credential, Post, PostEvent, utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.engine import act, exchange, lock, worker
from publisher.engine.dependencies import Dependencies
from publisher.engine.plan import Action, Plan
from publisher.sandbox import Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# One successful publish: claim read, claim, its event, the credential's hold re-read,
# the call-log row (one transaction); the call's outcome, the move to done, its event.
# Claim (read; move and its event), call-log row | call-log result, move and its event.
# PostgreSQL writes a move and its event in one statement (a data-modifying CTE).
PUBLISH_STATEMENTS = {"sqlite": 7, "postgresql": 5}
PUBLISH_TRANSACTIONS = 2


class Clock:
    """Monotonic seconds for the kill-switch cache, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(settings: Settings, sessions: sessionmaker[Session], clock: Clock) -> Dependencies:
    local = replace(settings, allow_private_urls=True)  # the sandbox is on 127.0.0.1
    return Dependencies(
        local,
        sessions,
        token_box(local),
        exchange.new_session(),
        lambda _post, _countdown: None,
        switches=control.PausesCache(clock=clock),
    )


def _due_posts(deps: Dependencies, url: str, count: int) -> list[int]:
    with deps.sessions.begin() as session:
        account = service.create_account(session, "hot path")
        credential = service.add_credential(
            session, deps.box, account.id, "mastodon", url, "tok-hot"
        )
        ids = [
            service.create_post(session, account.id, credential.id, f"hot {i}").id
            for i in range(count)
        ]
        for post_id in ids:
            service.approve(session, post_id, utcnow())
    return ids


@contextmanager
def _counted(engine: Engine) -> Iterator[Counter[str]]:
    """Statements (by verb) and commits sent to the database inside the block."""
    seen: Counter[str] = Counter()

    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        seen[text.split(None, 1)[0].upper()] += 1

    def commit(_conn: Any) -> None:
        seen["COMMIT"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def _events(deps: Dependencies, post_id: int) -> list[tuple[str, str, str]]:
    with deps.sessions() as session:
        rows = session.execute(
            select(PostEvent.from_state, PostEvent.to_state, PostEvent.trigger)
            .where(PostEvent.post_id == post_id)
            .order_by(PostEvent.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_publish_costs_few_statements_in_two_transactions(
    deps: Dependencies, sandbox: Sandbox
) -> None:
    # Given a credential already verified and the switches read (the steady state)
    first, second = _due_posts(deps, sandbox.url, 2)
    assert worker.process(first, deps) is worker.Result.DONE
    # When the next post is published
    with _counted(deps.engine) as seen:
        assert worker.process(second, deps) is worker.Result.DONE
    # Then it took 7 statements (5 on PostgreSQL) in 2 transactions; its history is whole
    statements = PUBLISH_STATEMENTS[deps.engine.dialect.name]
    assert sum(n for verb, n in seen.items() if verb != "COMMIT") == statements, seen
    assert seen["COMMIT"] == PUBLISH_TRANSACTIONS, seen
    assert seen["SELECT"] == 1, seen
    assert _events(deps, second)[-2:] == [
        ("approved", "running", "start"),
        ("running", "done", "succeed"),
    ]


class RacedConnection:
    """A connection on which, right after the claim's read, another worker claims the post
    (and commits): the race the compare-and-set must lose without writing."""

    def __init__(self, connection: Connection, rival: Any) -> None:
        self._connection = connection
        self._rival = rival
        self.statements = 0

    @property
    def dialect(self) -> Any:
        return self._connection.dialect

    def execute(self, statement: Any, params: Any = None) -> Any:
        result = self._connection.execute(statement, params)
        self.statements += 1
        if self.statements == 1:
            result = result.freeze()  # read before the rival writes, like a real cursor
            self._rival()
            return result()
        return result


def test_a_claim_that_loses_the_race_returns_none_and_writes_nothing(
    deps: Dependencies, sandbox: Sandbox
) -> None:
    (post_id,) = _due_posts(deps, sandbox.url, 1)
    now, lease = utcnow(), timedelta(minutes=2)

    def rival() -> None:
        with deps.engine.begin() as other:
            assert lock.claim(other, post_id, "rival", now, lease, 5) is not None

    # When a worker reads the post due, but another claims it before its compare-and-set
    with deps.engine.begin() as connection:
        raced = RacedConnection(connection, rival)
        job = lock.claim(raced, post_id, "loser", now, lease, 5)  # type: ignore[arg-type]
    # Then the loser gets None, and the post is the rival's: one attempt, one start event
    assert job is None
    assert raced.statements == 2  # the read and the compare-and-set that matched nothing
    with deps.sessions() as session:
        post = session.get(Post, post_id)
        assert post is not None
        assert (post.state, post.lease_owner, post.attempts) == ("running", "rival", 1)
    assert _events(deps, post_id)[-1:] == [("approved", "running", "start")]
    assert [e for e in _events(deps, post_id) if e[2] == "start"] == [
        ("approved", "running", "start")
    ]


def test_a_pause_stops_claims_once_the_cached_read_expires(
    deps: Dependencies, sandbox: Sandbox, clock: Clock
) -> None:
    first, second = _due_posts(deps, sandbox.url, 2)
    assert worker.process(first, deps) is worker.Result.DONE  # the switches are read: off
    # When publishing is paused
    with deps.sessions.begin() as session:
        control.set_paused(session, True, utcnow())
    # Then, once the cached read is a second old, the worker claims nothing
    clock.now += control.PAUSES_TTL
    assert worker.process(second, deps) is worker.Result.PAUSED
    with deps.sessions() as session:
        post = session.get(Post, second)
        assert post is not None and (post.state, post.attempts) == ("approved", 0)
    assert sandbox.create_count(text="hot 1") == 0


def test_a_worker_that_lost_its_post_writes_nothing_when_it_finishes(
    deps: Dependencies, sandbox: Sandbox
) -> None:
    (post_id,) = _due_posts(deps, sandbox.url, 1)
    now, lease = utcnow(), timedelta(minutes=2)
    with deps.engine.begin() as connection:
        job = lock.claim(connection, post_id, "first", now, lease, 5)
    assert job is not None
    done = Plan(Action.SUCCEED, reason="test")
    # When another owner holds the lease at the same version (the lease fence alone)
    with deps.engine.begin() as connection:
        connection.execute(update(POSTS).where(POSTS.c.id == post_id).values(lease_owner="next"))
    # Then finishing writes nothing
    with deps.engine.begin() as connection:
        assert act.apply(connection, job, done, now) is False
    # And when the post moved on (a newer version, the version fence), nothing either
    with deps.engine.begin() as connection:
        connection.execute(
            update(POSTS)
            .where(POSTS.c.id == post_id)
            .values(lease_owner="first", version=POSTS.c.version + 1)
        )
        assert act.apply(connection, job, done, now) is False
    with deps.sessions() as session:
        post = session.get(Post, post_id)
        assert post is not None and (post.state, post.published_at) == ("running", None)
    assert _events(deps, post_id)[-1] == ("approved", "running", "start")


def test_a_429_holds_the_credential_and_its_other_due_posts(
    deps: Dependencies, sandbox: Sandbox
) -> None:
    limited, other = _due_posts(deps, sandbox.url, 2)
    now, until = utcnow(), utcnow() + timedelta(minutes=5)
    with deps.engine.begin() as connection:
        job = lock.claim(connection, limited, "w", now, timedelta(minutes=2), 5)
    assert job is not None
    # When the attempt ends deferred by a 429 that asks to wait 5 minutes
    deferred = Plan(Action.DEFER, reason="rate_limited", next_run_at=until)
    with deps.engine.begin() as connection:
        assert act.apply(connection, job, replace(deferred, hold_credential_until=until), now)
    # Then the credential is held until then, and so is its other due post
    with deps.sessions() as session:
        credential = session.get(Credential, job.credential_id)
        waiting = session.get(Post, other)
        assert credential is not None and credential.rate_limited_until == until
        assert waiting is not None and waiting.next_run_at == until


def test_threads_sharing_one_process_publish_each_post_once(
    deps: Dependencies, sandbox: Sandbox
) -> None:
    # Given 20 due posts of a credential that allows many calls at once
    ids = _due_posts(deps, sandbox.url, 20)
    with deps.sessions.begin() as session:
        session.execute(update(Credential).values(max_in_flight=100))
    # When 8 threads (a worker's thread pool, one Dependencies) take every message twice
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda post_id: worker.process(post_id, deps), ids + ids))
    # Then every post was published once, the duplicate message found nothing to claim
    assert Counter(results) == {worker.Result.DONE: 20, worker.Result.NOT_CLAIMED: 20}
    for i, post_id in enumerate(ids):
        assert sandbox.create_count(text=f"hot {i}") == 1
        assert [e[2] for e in _events(deps, post_id)] == ["approve", "start", "succeed"]
