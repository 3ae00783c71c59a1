"""An index for the dashboard's text search (a substring of posts.text, any case):
PostgreSQL's pg_trgm GIN index, which serves ``ILIKE '%...%'``; SQLite's FTS5 table with
the trigram tokenizer over posts.text, kept in step by triggers

Where the index cannot be built (pg_trgm not installable by this role; a SQLite library
without FTS5 or older than 3.34), the migration still succeeds with a warning: the
search stays correct, as a scan. On SQLite the triggers belong to the posts table: a
later migration that rebuilds posts (Alembic's batch mode copies it into a new table)
must create them again (tests/integration/test_text_search.py checks they exist at head).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 08:30:00
"""

from __future__ import annotations

import logging
import sqlite3

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

log = logging.getLogger("publisher.migrations")

TRIGRAM_INDEX = "ix_posts_text_trgm"
FTS_TABLE = "posts_fts"
TRIGRAM_SINCE = (3, 34, 0)  # the SQLite release that brought FTS5's trigram tokenizer
# An external-content table: it stores the trigrams, posts keeps the text (no copy).
# detail=full (the default) keeps positions: a quoted phrase matches a substring.
CREATE_FTS = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    "text, content='posts', content_rowid='id', tokenize='trigram')"
)
_DELETE_OLD = (
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);"
)
_INSERT_NEW = f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);"
TRIGGERS = {
    "posts_fts_insert": f"AFTER INSERT ON posts BEGIN {_INSERT_NEW} END",
    "posts_fts_update": f"AFTER UPDATE OF text ON posts BEGIN {_DELETE_OLD} {_INSERT_NEW} END",
    "posts_fts_delete": f"AFTER DELETE ON posts BEGIN {_DELETE_OLD} END",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")  # pg_trgm stays: others may use it
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


def _upgrade_postgresql() -> None:
    """Built CONCURRENTLY, outside a transaction (as 0013): the workers keep writing."""
    with op.get_context().autocommit_block():
        connection = op.get_bind()
        if not _pg_trgm(connection):
            return
        # A build cut short leaves an INVALID index of that name: start it afresh.
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TRIGRAM_INDEX}")
        op.execute(
            f"CREATE INDEX CONCURRENTLY {TRIGRAM_INDEX} ON posts USING gin (text gin_trgm_ops)"
        )


def _pg_trgm(connection: Connection) -> bool:
    """Whether pg_trgm is installed, installing it if this role may (a trusted extension
    since PostgreSQL 13: a role with CREATE on the database may)."""
    installed = "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
    if connection.exec_driver_sql(installed).first() is not None:
        return True
    try:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        log.warning(
            "pg_trgm cannot be installed (%s): the posts list's text search scans the "
            "posts table. Run CREATE EXTENSION pg_trgm as the database owner, then "
            "CREATE INDEX CONCURRENTLY %s ON posts USING gin (text gin_trgm_ops).",
            " ".join(str(exc.orig).split()),
            TRIGRAM_INDEX,
        )
        return False
    return True


def _upgrade_sqlite() -> None:
    if not trigram_supported():
        log.warning(
            "SQLite %s has no FTS5 trigram tokenizer (3.34 or later with FTS5 needed): "
            "the posts list's text search scans the posts table.",
            sqlite3.sqlite_version,
        )
        return
    op.execute(CREATE_FTS)
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")  # existing posts


def trigram_supported() -> bool:
    """Whether this process's SQLite library has FTS5 and its trigram tokenizer."""
    if sqlite3.sqlite_version_info < TRIGRAM_SINCE:
        return False
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize='trigram')")
    except sqlite3.Error:
        return False
    finally:
        probe.close()
    return True
