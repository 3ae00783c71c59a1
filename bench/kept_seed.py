"""Seeded databases kept between runs (``python -m bench dashboard --seed DIR``).

Loading a million posts with their history takes minutes; measuring them takes seconds.
With a directory, a benchmark's seeded SQLite file and PostgreSQL cluster live there
and a later run reuses them: it migrates them to the current head (so a new migration is
measured on a million rows) and skips the load. A seed counts only once its load
finished (a ``bench_seed`` row written last), so a run cut short seeds afresh.
Without a directory, databases are the stack's throwaway ones, as for every benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import psycopg
from psycopg import sql
from sqlalchemy import Engine, inspect, text

from bench.errors import BenchError
from bench.stack import Stack
from tests.support.services import PostgresServer

MARK = "bench_seed"  # one row: the posts loaded; written once the load completed


class KeptPostgres(PostgresServer):
    """A PostgreSQL cluster in ``home``: created on first start, kept on stop (and shut
    down cleanly, so the next start needs no recovery)."""

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home = home

    def start(self) -> Self:
        if self.process is not None:
            return self
        self.dir = self.home
        if not self.data_dir.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            self._prepare()
        self._launch()
        return self

    def stop(self) -> None:
        self._stop_mode = "fast"
        self._halt()


class Seeds:
    """Where a benchmark's databases come from: kept in ``home``, or the stack's."""

    def __init__(self, stack: Stack, home: Path | None) -> None:
        self.stack = stack
        self.home = home
        self._postgres: KeptPostgres | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._postgres is not None:
            self._postgres.stop()

    def url(self, kind: str, name: str) -> str:
        """Database ``name`` of ``kind``: the kept one (created if missing) or a fresh one."""
        if self.home is None:
            return self.stack.database_url(kind, name)
        if kind == "sqlite":
            return f"sqlite:///{self.home / name}.db"
        if self._postgres is None:
            self._postgres = KeptPostgres(self.home / "postgres").start()
        with psycopg.connect(self._postgres.url, autocommit=True) as conn:
            exists = "SELECT 1 FROM pg_database WHERE datname = %s"
            if conn.execute(exists, (name,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self._postgres.url_for(name)


class UnfinishedSeed(BenchError):
    """The kept database holds posts from a load that did not finish: remove it (or the
    whole --seed directory) and run again."""


def seeded(engine: Engine) -> int | None:
    """The posts a completed load left in this database; None: empty, to be seeded."""
    with engine.connect() as connection:
        if MARK in inspect(connection).get_table_names():
            return connection.execute(text(f"SELECT posts FROM {MARK}")).scalar()
        if connection.execute(text("SELECT 1 FROM posts LIMIT 1")).first() is not None:
            raise UnfinishedSeed()
    return None


def mark(engine: Engine, posts: int) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {MARK} (posts INTEGER NOT NULL)"))
        connection.execute(text(f"INSERT INTO {MARK} (posts) VALUES (:posts)"), {"posts": posts})
