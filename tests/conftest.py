"""Shared fixtures: settings on a temporary data directory, and databases.

``database_url`` runs a test on SQLite and on a real PostgreSQL server that the suite
starts itself (one per session, a fresh database per test). Without PostgreSQL binaries
the postgres variant is skipped locally, with a warning in the header and a banner at the
end of the run, but fails in CI (``CI`` set), so CI cannot pass by silently testing less.
"""

from __future__ import annotations

import ast
import functools
import gc
import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import db
from publisher.core.settings import Settings
from publisher.errors import ConfigError
from publisher.ops.embedded_redis import redis_binary
from tests.support.services import PostgresServer, postgres_bin_dir

_names = itertools.count()
NO_POSTGRES = "no PostgreSQL binaries"


def _serialize_ast_parse() -> None:
    """One ``ast.parse`` at a time in the test process, with no Python code inside it.

    CPython 3.11 keeps the AST constructor's recursion counter per interpreter, not per
    call: when a second conversion starts while one is under way, the first raises
    "SystemError: AST constructor recursion depth mismatch" and hypothesis reports the
    fuzz test as flaky. Two ways in: another thread (hypothesis describing a lambda while
    a server thread formats a traceback, whose carets 3.11 finds with ``ast.parse``), and
    the same thread, when an allocation inside the conversion triggers the cyclic garbage
    collector and a finalizer parses again (pytest's unraisable-exception hook formats a
    traceback). The lock closes the first; pausing the collector for the parse closes the
    second, and with no Python code running inside it, no thread switch either.
    """
    parse = ast.parse
    lock = threading.RLock()

    @functools.wraps(parse)
    def parse_alone(*args: Any, **kwargs: Any) -> Any:
        with lock:
            collecting = gc.isenabled()
            gc.disable()
            try:
                return parse(*args, **kwargs)
            finally:
                if collecting:
                    gc.enable()

    ast.parse = parse_alone


_serialize_ast_parse()


@functools.cache
def _postgres_missing() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        postgres_bin_dir()
    except RuntimeError as exc:
        return str(exc)
    return None


def pytest_report_header() -> list[str]:
    try:
        redis = redis_binary()
    except ConfigError as exc:
        redis = f"NOT FOUND ({exc.message})"
    missing = _postgres_missing()
    if missing is None:
        postgres = str(postgres_bin_dir())
    elif os.environ.get("CI"):
        postgres = f"NOT FOUND ({missing}): the PostgreSQL tests will FAIL (CI is set)"
    else:
        postgres = f"NOT FOUND ({missing}): the PostgreSQL tests will be SKIPPED"
    return [f"redis-server: {redis}", f"postgresql: {postgres}"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if NO_POSTGRES in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.section("PostgreSQL NOT TESTED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(skipped)} PostgreSQL tests were skipped: {_postgres_missing()}. "
            "Install the PostgreSQL server (Debian: apt-get install postgresql) to run them; "
            "in CI (CI set) they fail instead.",
            red=True,
            bold=True,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first, so that the parallel run (pytest-xdist) starts them at once.

    A test's ``timeout`` mark is its author's bound on how long it runs: the chaos soak,
    the wall-clock series and the pipeline modules raise the default. ``--dist loadgroup``
    hands tests out in this order, one or two at a time, so a minutes-long test starts
    early on a worker of its own instead of running alone at the end. The sort is stable:
    within a bound, modules and their tests keep their order (and module fixtures).
    """
    default = float(config.getini("timeout") or 0)
    items.sort(key=lambda item: -max(_timeout_mark(item), default))


def _timeout_mark(item: pytest.Item) -> float:
    """The seconds of the test's ``timeout`` mark; 0 without one."""
    mark = item.get_closest_marker("timeout")
    if mark is None:
        return 0.0
    seconds = mark.args[0] if mark.args else mark.kwargs.get("timeout", 0)
    return float(seconds or 0)


@pytest.fixture(scope="session")
def postgres_binaries() -> Path:
    """The PostgreSQL programs' directory; skips the test without them (fails it in CI)."""
    missing = _postgres_missing()
    if missing is not None:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI must test PostgreSQL: {missing}")
        pytest.skip(f"{NO_POSTGRES}: {missing}")
    return postgres_bin_dir()


@pytest.fixture(scope="session")
def postgres(postgres_binaries: Path) -> Iterator[PostgresServer]:
    with PostgresServer(bin_dir=postgres_binaries) as server:
        yield server


# A pipeline test whose subject does not depend on the database runs on SQLite alone
# (each costs seconds of real processes): ``@SQLITE_ONLY``. What differs between the two
# databases (claims, moves, the steps' inserts, the refresh lease) keeps tests on both.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database; on PostgreSQL it is dropped after the test.

    Each database is ~8 MB of files: kept, a worker's hundreds of them made removing the
    cluster at the end of its session take longer than its last test's timeout.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'publisher.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"test_{os.getpid()}_{next(_names)}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    env = {
        "PUBLISHER_DATA_DIR": str(tmp_path / "data"),
        "PUBLISHER_DATABASE_URL": database_url,
        "PUBLISHER_SECRET_KEY": Fernet.generate_key().decode(),
        "PUBLISHER_API_KEYS": "test-key",
    }
    return Settings.from_env(env)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.make_sessionmaker(engine)
