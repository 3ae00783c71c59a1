"""Fixtures shared by the integration tests that talk to Redis directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.services import RedisServer


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
