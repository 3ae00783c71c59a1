"""The post-groups migration upgrades a database that already has posts and their history
(SQLite refuses to drop a table other rows refer to, so the column must be added in
place, not by a batch copy of ``posts``), on both databases, and downgrades PostgreSQL.

SQLite's downgrade copies ``posts`` as every downgrade of a ``posts`` column here does, so
it works only while no history row refers to a post (not tested here)."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from publisher.core import db

REVISION = "0007"
ROWS = (
    "INSERT INTO accounts (id, name, billing_status, paused, created_at, updated_at) "
    "VALUES (1, 'a', 'active', false, :now, :now)",
    "INSERT INTO credentials (id, account_id, provider, base_url, token_encrypted, backoff, "
    "created_at, updated_at) VALUES (1, 1, 'x', 'https://api.x.com', 't', 'exponential', "
    ":now, :now)",
    "INSERT INTO posts (id, account_id, credential_id, text, options, state, attempts, "
    "idempotency_key, ambiguous, rescues, version, created_at, updated_at) "
    "VALUES (1, 1, 1, 'kept', '{}', 'done', 1, 'key-0001', false, 0, 3, :now, :now)",
    "INSERT INTO post_events (post_id, from_state, to_state, trigger, actor, at) "
    "VALUES (1, 'draft', 'approved', 'approve', 'user', :now)",
)


def test_upgrade_keeps_existing_posts_and_downgrade_removes_groups(database_url: str) -> None:
    engine: Engine = db.make_engine(database_url)
    try:
        # Given a database just before this migration, with a post and its history
        config = db.alembic_config(engine)
        before = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
        assert isinstance(before, str)
        db.upgrade(engine, before)
        with engine.begin() as connection:
            for statement in ROWS:
                connection.execute(text(statement), {"now": "2030-01-01 00:00:00+00:00"})
        # When it is upgraded
        db.upgrade(engine, REVISION)
        # Then the post is intact and in no group
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, text, group_id FROM posts")).all()
        assert [tuple(r) for r in rows] == [(1, "kept", None)]
        if engine.dialect.name == "sqlite":
            return
        # And the downgrade takes the groups away again, history kept
        command.downgrade(config, before)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM post_events")).scalar() == 1
        assert db.current_revision(engine) == before
    finally:
        engine.dispose()
