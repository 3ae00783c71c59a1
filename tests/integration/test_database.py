"""Schema and transitions against real databases: migrations, and the compare-and-set race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from publisher.core import db, lifecycle, service
from publisher.core.models import Base, Post, PostEvent, declared
from publisher.core.states import Actor, State, Trigger
from publisher.core.tokens import TokenBox
from publisher.errors import Conflict, LostRace


def test_upgrade_from_empty_reaches_head(engine: Engine) -> None:
    assert db.current_revision(engine) == db.head_revision(engine)
    tables = set(inspect(engine).get_table_names())
    assert {
        "accounts",
        "credentials",
        "posts",
        "post_events",
        "api_calls",
        "notifications",
        "control",
    } <= tables


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": declared})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_due_index_is_partial(engine: Engine) -> None:
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("posts")}
    assert "ix_posts_due" in indexes
    assert indexes["ix_posts_due"]["column_names"] == ["next_run_at", "id"]


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision(engine)


def _approved_post(sessions: sessionmaker[Session], box: TokenBox) -> int:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        account = service.create_account(session, "race")
        credential = service.add_credential(
            session, box, account.id, "webhook", "http://127.0.0.1:9/hook", "token"
        )
        post = service.create_post(session, account.id, credential.id, "race me")
        service.approve(session, post.id, now)
        return post.id


@pytest.mark.timeout(60)
def test_only_one_of_many_racers_moves_a_post(sessions: sessionmaker[Session]) -> None:
    # Given an approved post and 16 threads released at once
    from cryptography.fernet import Fernet

    post_id = _approved_post(sessions, TokenBox((Fernet.generate_key().decode(),)))
    barrier = threading.Barrier(16)
    won: list[int] = []
    lost: list[str] = []

    def racer(index: int) -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                lifecycle.move(
                    session,
                    post_id,
                    Trigger.CANCEL,
                    Actor.USER,
                    datetime.now(UTC),
                    reason=f"racer {index}",
                )
            won.append(index)
        except Conflict as exc:
            lost.append(type(exc).__name__)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one wins, every loser sees a conflict, and history has one cancel
    assert len(won) == 1
    assert len(lost) == 15
    assert set(lost) <= {"LostRace", "IllegalTransition"}
    with sessions() as session:
        cancels = session.scalar(
            select(func.count())
            .select_from(PostEvent)
            .where(PostEvent.post_id == post_id, PostEvent.trigger == "cancel")
        )
        post = session.get(Post, post_id)
    assert cancels == 1
    assert post is not None and post.state == "cancelled"


def test_stale_version_loses(sessions: sessionmaker[Session]) -> None:
    from cryptography.fernet import Fernet

    post_id = _approved_post(sessions, TokenBox((Fernet.generate_key().decode(),)))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        post = session.get(Post, post_id)
        assert post is not None
        stale = post.version
        service.unapprove(session, post_id, now)
    with sessions.begin() as session:
        won = lifecycle.guarded_update(
            session,
            post_id,
            trigger=Trigger.CANCEL,
            actor=Actor.USER,
            source=State.DRAFT,
            version=stale,
            now=now,
        )
    assert won is False
    assert LostRace.__mro__[1] is Conflict


def test_rotate_tokens_moves_every_token_to_the_new_key(sessions: sessionmaker[Session]) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with sessions.begin() as session:
        account = service.create_account(session, "rot")
        ids = [
            service.add_credential(
                session, TokenBox((old,)), account.id, "mastodon", "https://m.example", f"token-{i}"
            ).id
            for i in range(3)
        ]
    with sessions.begin() as session:
        assert service.rotate_tokens(session, TokenBox((new, old))) == 3
    with sessions() as session:
        from publisher.core.models import Credential

        for index, credential_id in enumerate(ids):
            stored = session.get(Credential, credential_id)
            assert stored is not None
            assert TokenBox((new,)).decrypt(stored.token_encrypted) == f"token-{index}"


def test_edit_racing_an_approval_never_changes_an_approved_post(
    sessions: sessionmaker[Session],
) -> None:
    from cryptography.fernet import Fernet

    box = TokenBox((Fernet.generate_key().decode(),))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        account = service.create_account(session, "edit")
        credential = service.add_credential(
            session, box, account.id, "webhook", "http://127.0.0.1:9/hook", "token"
        )
        post_id = service.create_post(session, account.id, credential.id, "original").id
    # Given an editor that read the draft before an approval landed
    editor = sessions()
    editor.begin()
    service.get_post(editor, post_id)
    with sessions.begin() as session:
        service.approve(session, post_id, now)
    # When it writes its edit, it loses; the approved text stands
    with pytest.raises(Conflict):
        service.edit_post(editor, post_id, now, text="sneaky")
    editor.rollback()
    editor.close()
    with sessions() as session:
        post = session.get(Post, post_id)
        assert post is not None and (post.state, post.text) == ("approved", "original")


def _webhook_credential(session: Session, name: str) -> tuple[int, int]:
    """A new account and a webhook credential on it: (account id, credential id)."""
    account = service.create_account(session, name)
    credential = service.add_credential(
        session,
        TokenBox((Fernet.generate_key().decode(),)),
        account.id,
        "webhook",
        "https://hooks.example/x",
        "tok-1",
    )
    return account.id, credential.id


def _all_at_once(count: int, body: Callable[[], None]) -> list[BaseException]:
    """Runs ``body`` in ``count`` threads released together; what each one raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            body()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.timeout(60)
def test_concurrent_creates_with_one_key_make_one_post(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ids = _webhook_credential(session, "keys")
    made: list[int] = []

    def create() -> None:
        with sessions.begin() as session:
            post = service.create_post(session, *ids, "same", idempotency_key="key-000001")
            made.append(post.id)

    errors = _all_at_once(8, create)  # SQLite may report a busy database under contention
    with sessions() as session:
        count = session.scalar(select(func.count()).select_from(Post))
    assert count == 1
    assert errors == [] and len(set(made)) == 1


def test_many_threads_read_then_write_without_database_is_locked(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    # Given a post, and as many threads as a worker runs, each transaction reading the
    # row and then writing it while the others commit: on SQLite a transaction that
    # reads before it holds the write lock either loses updates (the driver begins at
    # the first write) or fails at once with "database is locked" (begun at the read:
    # its snapshot is stale), so ``db.transaction`` takes the lock at BEGIN; PostgreSQL
    # is given the row lock it needs for the same guarantee
    with db.transaction(sessions) as session:
        post_id = service.create_post(session, *_webhook_credential(session, "threads"), "n").id

    def bump() -> None:
        for _ in range(10):
            with db.transaction(sessions) as session:
                attempts = session.scalar(
                    select(Post.attempts).where(Post.id == post_id).with_for_update()
                )
                post = session.get(Post, post_id)
                assert post is not None and attempts is not None
                post.attempts = attempts + 1

    # When they all run at once
    errors = _all_at_once(32, bump)
    # Then none failed and no increment was lost (each transaction saw the last commit)
    assert errors == []
    with sessions() as session:
        assert session.scalar(select(Post.attempts).where(Post.id == post_id)) == 320


@pytest.mark.postgres
def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
    postgres: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pooled PostgreSQL connection, idle, that the server has since terminated
    # (a restart, an idle timeout, a failover)
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    url = postgres.create_database(f"ping_{tmp_path.name.replace('-', '_')}")
    engine = db.make_engine(url, ping_idle_only=True, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    killer = db.make_engine(url, poolclass=NullPool)
    with killer.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()
    killer.dispose()
    # When the pool hands it out again, then the work runs, on a fresh connection
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    engine.dispose()
