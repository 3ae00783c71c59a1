"""Retention (``core.retention``) on SQLite and PostgreSQL: what goes, what stays, in
bounded batches, without the sweep or a worker's claim waiting on it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import db, retention
from publisher.core.models import (
    Account,
    ApiCall,
    Credential,
    Notification,
    Post,
    PostEvent,
    utcnow,
)
from publisher.core.settings import Settings
from publisher.engine import lock, sweep
from publisher.engine.dependencies import Dependencies
from publisher.ops.constants import PRUNE_LOCK_KEY
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import PostgresServer, RedisServer

DAY = timedelta(days=1)
POLICY = retention.Policy(
    calls=30 * DAY, events=90 * DAY, notifications=30 * DAY, posts=None, batch=3
)
STATES = ["done", "cancelled", "draft", "approved", "retry", "running"]
FINISHED = {"done", "cancelled"}


def _post(session: Session, state: str, updated: datetime, old: datetime) -> int:
    """A post in ``state`` with, each, an old and a recent call, event and notification
    (delivered), plus an old notification not yet delivered."""
    account = Account(name="a")
    session.add(account)
    session.flush()
    credential = Credential(
        account_id=account.id, provider="mastodon", base_url="http://x", token_encrypted="t"
    )
    session.add(credential)
    session.flush()
    post = Post(
        account_id=account.id,
        credential_id=credential.id,
        text=state,
        state=state,
        next_run_at=updated,
        created_at=updated,
        updated_at=updated,
    )
    session.add(post)
    session.flush()
    recent = utcnow() - DAY
    for when, tag in ((old, "old"), (recent, "recent")):
        session.add(
            ApiCall(
                post_id=post.id, attempt=1, provider="m", method="POST", url=tag, started_at=when
            )
        )
        session.add(
            PostEvent(
                post_id=post.id, from_state="a", to_state="b", trigger=tag, actor="t", at=when
            )
        )
        session.add(
            Notification(
                account_id=account.id,
                post_id=post.id,
                kind="k",
                message=f"delivered {tag}",
                created_at=when,
                delivered_at=when,
            )
        )
    session.add(
        Notification(
            account_id=account.id, post_id=post.id, kind="k", message="pending old", created_at=old
        )
    )
    return post.id


def _rows(sessions: sessionmaker[Session], post_id: int) -> dict[str, set[str]]:
    with sessions() as session:
        return {
            "calls": set(session.scalars(select(ApiCall.url).where(ApiCall.post_id == post_id))),
            "events": set(
                session.scalars(select(PostEvent.trigger).where(PostEvent.post_id == post_id))
            ),
            "notifications": set(
                session.scalars(select(Notification.message).where(Notification.post_id == post_id))
            ),
        }


EVERYTHING = {
    "calls": {"old", "recent"},
    "events": {"old", "recent"},
    "notifications": {"delivered old", "delivered recent", "pending old"},
}


def test_prune_removes_old_rows_of_finished_posts_only(sessions: sessionmaker[Session]) -> None:
    # Given posts in every state, each with rows older than every limit and recent rows
    old = utcnow() - 200 * DAY
    with db.transaction(sessions) as session:
        posts = {state: _post(session, state, old, old) for state in STATES}
        account = session.scalars(select(Account.id)).first()
        session.add(
            Notification(
                account_id=account, kind="k", message="account", created_at=old, delivered_at=old
            )
        )

    # When the prune runs
    report = retention.prune(sessions, POLICY, utcnow())

    # Then finished posts lost their old calls, events and delivered notifications
    for state, post_id in posts.items():
        rows = _rows(sessions, post_id)
        if state in FINISHED:
            assert rows == {
                "calls": {"recent"},
                "events": {"recent"},
                "notifications": {"delivered recent", "pending old"},
            }, state
        else:  # and every row of an unfinished post stayed
            assert rows == EVERYTHING, state
    assert report.deleted == {"api_calls": 2, "post_events": 2, "notifications": 3}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == len(STATES)
        assert session.scalar(select(func.count()).where(Notification.post_id.is_(None))) == 0


def test_dry_run_counts_and_deletes_nothing(sessions: sessionmaker[Session]) -> None:
    old = utcnow() - 200 * DAY
    with db.transaction(sessions) as session:
        done = _post(session, "done", old, old)
    report = retention.prune(sessions, POLICY, utcnow(), dry_run=True)
    assert report.dry_run and report.deleted == {
        "api_calls": 1,
        "post_events": 1,
        "notifications": 1,
    }
    assert _rows(sessions, done) == EVERYTHING


def test_finished_posts_are_pruned_only_when_configured(sessions: sessionmaker[Session]) -> None:
    # Given old and recent finished posts, and an old unfinished one
    old, recent = utcnow() - 200 * DAY, utcnow() - DAY
    with db.transaction(sessions) as session:
        old_done = _post(session, "done", old, old)
        old_cancelled = _post(session, "cancelled", old, old)
        recent_done = _post(session, "done", recent, old)
        old_draft = _post(session, "draft", old, old)
        # the old cancelled post owes nothing: its pending notification was delivered
        session.execute(
            Notification.__table__.update()
            .where(Notification.post_id == old_cancelled)
            .values(delivered_at=old)
        )
    # When the prune runs without a posts limit, every post stays
    retention.prune(sessions, POLICY, utcnow())
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 4
    # When it runs with one, the old finished post that owes nothing goes, with its rows
    retention.prune(sessions, dataclasses.replace(POLICY, posts=60 * DAY), utcnow())
    with sessions() as session:
        left = set(session.scalars(select(Post.id)))
        assert left == {old_done, recent_done, old_draft}  # old_done owes a notification
        assert _rows(sessions, old_cancelled) == {
            "calls": set(),
            "events": set(),
            "notifications": set(),
        }


def test_batches_are_bounded(sessions: sessionmaker[Session], engine: Engine) -> None:
    # Given many old rows of finished posts
    old = utcnow() - 200 * DAY
    with db.transaction(sessions) as session:
        for _ in range(8):
            _post(session, "done", old, old)
    deletes: list[tuple[str, int]] = []

    def count(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        if words[0].upper() == "DELETE":
            deletes.append((words[2], cursor.rowcount))

    event.listen(engine, "after_cursor_execute", count)
    try:
        # When the prune runs, then no statement deletes more than one batch of rows
        report = retention.prune(sessions, POLICY, utcnow())
        assert deletes and max(rows for _, rows in deletes) <= POLICY.batch
        assert report.deleted["api_calls"] == 8 and report.batches >= 3 * 8 // POLICY.batch
        # And finished posts go one batch of posts at a time (with their remaining rows)
        with db.transaction(sessions) as session:
            session.execute(Notification.__table__.update().values(delivered_at=old))
        deletes.clear()
        report = retention.prune(sessions, dataclasses.replace(POLICY, posts=60 * DAY), utcnow())
    finally:
        event.remove(engine, "after_cursor_execute", count)
    assert report.deleted["posts"] == 8
    assert max(rows for table, rows in deletes if table == "posts") <= POLICY.batch
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApiCall)) == 0


def test_a_prune_told_to_stop_stops_after_that_batch(sessions: sessionmaker[Session]) -> None:
    # Given more old rows than one batch (3)
    old = utcnow() - 200 * DAY
    with db.transaction(sessions) as session:
        for _ in range(8):
            _post(session, "done", old, old)
    # When on_batch says stop after the second batch (the job's lease was lost)
    answers = iter([True, False])
    report = retention.prune(sessions, POLICY, utcnow(), on_batch=lambda: next(answers))
    # Then the prune stopped there (no later table begun), and said so
    assert report.stopped and report.batches == 2
    assert list(report.deleted) == ["api_calls"] and 0 < report.deleted["api_calls"] < 8
    assert not retention.prune(sessions, POLICY, utcnow()).stopped


@pytest.mark.postgres
def test_prune_never_holds_up_the_sweep_or_a_claim(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    # (PostgreSQL only: SQLite has one writer at a time by design, short batches are all
    # a prune can do there.)
    # Given finished posts to prune and a due post; every statement of the sweep and the
    # claim fails instead of waiting more than 5 s for a lock
    url = postgres.create_database(f"hot_path_{os.getpid()}")
    engine = db.make_engine(url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    settings = Settings.from_env(
        {
            "PUBLISHER_DATA_DIR": str(tmp_path),
            "PUBLISHER_DATABASE_URL": url + "?options=-c%20lock_timeout%3D5000",
            "PUBLISHER_SECRET_KEY": Fernet.generate_key().decode(),
        }
    )
    old = utcnow() - 200 * DAY
    with db.transaction(sessions) as session:
        for _ in range(3):
            _post(session, "done", old, old)
        due = _post(session, "approved", utcnow() - DAY, old)
        session.execute(Notification.__table__.update().values(delivered_at=old))
    policy = dataclasses.replace(POLICY, posts=60 * DAY, batch=1_000)
    # When a prune batch of each table is in flight (deleted, not committed)
    with db.transaction(sessions) as pruning:
        for rule, limit in retention.rules(policy):
            count, _ = retention.prune_batch(pruning, rule, utcnow() - limit, -1, policy.batch)
            assert count > 0, rule.table
        # Then a sweep finds and enqueues the due post, and a worker claims it
        sent: list[int] = []
        deps = Dependencies.build(settings, lambda post_id, _countdown: sent.append(post_id))
        assert sweep.run(deps).enqueued == 1 and sent == [due]
        with db.transaction(deps.sessions) as session:
            job = lock.claim(session, due, "w", utcnow(), timedelta(minutes=2), 5)
        assert job is not None
        deps.sessions.kw["bind"].dispose()
    engine.dispose()


def test_prune_command(settings: Settings, sessions: sessionmaker[Session], tmp_path: Any) -> None:
    old = utcnow() - 200 * DAY
    with db.transaction(sessions) as session:
        done = _post(session, "done", old, old)
    env = {
        "PUBLISHER_DATA_DIR": str(settings.data_dir),
        "PUBLISHER_DATABASE_URL": settings.database_url,
        "PUBLISHER_SECRET_KEY": ",".join(settings.secret_keys),  # required outside SQLite
        "PUBLISHER_REDIS_URL": "redis://127.0.0.1:1/0",  # unreachable: pruned without the lock
        "PATH": "/usr/bin:/bin",
    }

    def prune(*args: str) -> dict[str, Any]:
        done_ = subprocess.run(
            [sys.executable, "-m", "publisher.cli", "prune", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result: dict[str, Any] = json.loads(done_.stdout.splitlines()[-1])
        return result

    assert prune("--dry-run")["deleted"]["api_calls"] == 1
    assert _rows(sessions, done) == EVERYTHING
    assert prune()["deleted"]["api_calls"] == 1
    assert _rows(sessions, done)["calls"] == {"recent"}


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_beat_runs_the_prune_one_at_a_time(tmp_path: Path) -> None:
    # Given a pipeline that prunes every second, and old rows of a finished post
    with RedisServer() as redis_server, Sandbox() as sandbox:
        pipeline = Pipeline(
            tmp_path,
            f"sqlite:///{tmp_path / 'publisher.db'}",
            redis_server.url,
            sandbox,
            PUBLISHER_RETAIN_INTERVAL="1",
        )
        try:
            old = utcnow() - 200 * DAY
            with db.transaction(pipeline.sessions) as session:
                done = _post(session, "done", old, old)
            # And another prune holding the lock
            client = redis.Redis.from_url(redis_server.url)
            client.set(PRUNE_LOCK_KEY, "someone else")
            pipeline.start_beat()  # and the control worker, which runs the prune
            # Then the scheduled prunes skip, and the rows stay
            wait_for(lambda: pipeline.log("control").count("prune skipped") >= 2, 60)
            assert _rows(pipeline.sessions, done) == EVERYTHING
            # When the lock is released, the next scheduled prune deletes them
            client.delete(PRUNE_LOCK_KEY)
            wait_for(lambda: _rows(pipeline.sessions, done)["calls"] == {"recent"}, 60)
            client.close()
        finally:
            pipeline.stop()
