"""Database engine, sessions and schema migrations (Alembic).

SQLite (the embedded default) runs in WAL mode with a busy timeout and write-locking
transactions so a web process, a worker's threads and beat can share one file;
PostgreSQL is the production database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.models import TEXT_SEARCH_TABLE

MIGRATIONS = Path(__file__).parent / "migrations"

# How long SQLite waits for another writer before it gives up (ms): long enough to ride
# out a burst of worker commits, short enough that a stuck process is noticed.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# A PostgreSQL connection idle in the pool this long (s) is pinged before it is used.
PING_AFTER_IDLE = 5.0

# What a function that writes in its caller's transaction accepts: an ORM ``Session`` (the
# API, the sweep) or a Core ``Connection`` from ``engine.begin()`` (the worker's hot path,
# which skips the ORM's per-statement cost). Both run a statement with ``execute``.
Executor = Session | Connection


def is_postgresql(executor: Executor) -> bool:
    """Whether ``executor`` talks to PostgreSQL (else SQLite)."""
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    return bind.dialect.name == "postgresql"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    _open_text_search(cursor)
    cursor.close()


def _open_text_search(cursor: Any) -> None:
    """Open the FTS5 table (migration 0014) now, outside any transaction.

    A connection's first statement that touches it (a post's insert, through its trigger)
    reads the table's config first, so its transaction holds a read snapshot before it
    asks for the write lock: SQLite then answers "database is locked" at once instead of
    waiting (a transaction that has read cannot wait for the lock). Opened here, that
    read is over before any transaction begins."""
    found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    if cursor.execute(found, (TEXT_SEARCH_TABLE,)).fetchone() is not None:
        cursor.execute(f"SELECT 1 FROM {TEXT_SEARCH_TABLE} WHERE rowid = 0").fetchall()


# The execution option that makes a SQLite transaction take the write lock at BEGIN.
IMMEDIATE = "publisher_immediate"


def _begin(connection: Connection) -> None:
    """A write transaction (``transaction``, ``write``) takes SQLite's write lock at its
    start, waiting up to the busy timeout, so what it reads stays true until it commits.

    Other sessions keep the driver's own handling: no transaction until the first write,
    which then waits for the lock like any other. What must not happen is a transaction
    that reads, then writes after another connection committed: it fails at once with
    "database is locked" (its snapshot is stale; SQLite does not wait then), and with
    dozens of worker threads that is the common case.
    """
    if connection.get_execution_options().get(IMMEDIATE, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, ping_idle_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets its directory created and its pragmas set.

    A PostgreSQL connection is pinged whenever the pool hands it out (``pool_pre_ping``),
    so none that died with a server restart ever fails a request; ``ping_idle_only``
    (the engine's hot path, where that costs two round trips per publish) pings only a
    connection idle for ``PING_AFTER_IDLE`` s, and leaves the rare failure of a busy one
    to the worker's retries."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not ping_idle_only:
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _idle_from)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _idle_from(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle in the pool for ``PING_AFTER_IDLE`` s before it is
    used (SQLAlchemy's custom pessimistic disconnect handling): one that died with a
    server restart is replaced, up to three times, instead of failing the work it was
    taken for. A busy worker's connections are never idle that long, so the hot path
    pays no ping; a connection that dies while busy fails once (the worker retries the
    message or the write), and that failure invalidates the whole pool."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:
        raise DisconnectionError("the pooled connection is gone") from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error (a
    write transaction: on SQLite it holds the write lock from its start)."""
    with factory() as session, session.begin():
        session.connection(execution_options={IMMEDIATE: True})
        yield session


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A Core connection in a write transaction, committed on success (``transaction``
    without the ORM, for the worker's hot path)."""
    with engine.connect() as connection:
        connection.execution_options(**{IMMEDIATE: True})
        with connection.begin():
            yield connection


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
