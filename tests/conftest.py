"""Shared fixtures: settings on a temporary data directory, and databases.

``database_url`` runs a test on SQLite and on a real PostgreSQL server that the suite
starts itself (one per session, a fresh database per test). Without PostgreSQL binaries
the postgres variant is skipped locally but fails in CI (``CI`` set), so CI cannot pass
by silently testing less.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from publisher import db
from publisher.settings import Settings
from tests.support.services import PostgresServer, postgres_bin_dir

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        postgres_bin_dir()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL binaries: {exc}")
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'publisher.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"test_{os.getpid()}_{next(_names)}")


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
