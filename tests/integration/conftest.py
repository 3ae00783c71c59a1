"""Fixtures shared by the integration tests: a real Redis to talk to directly, and the
HTTP API in process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.core.settings import Settings
from tests.support.services import RedisServer

AUTH = {"Authorization": "Bearer test-key"}  # PUBLISHER_API_KEYS of the settings fixture


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the module (a module may define its own instead)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on an emptied Redis."""
    with redis.Redis.from_url(redis_server.url) as connection:
        connection.flushall()
        yield connection


@pytest.fixture
def api(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The HTTP API in process, authorized; a server error answers 500 (not raised)."""
    app = create_app(settings, sessions=sessions)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client
