"""The real servers the integration suite runs on start, answer, restart and stop."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis

from tests.support.services import PostgresServer, RedisServer, free_port

pytestmark = pytest.mark.integration


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_redis_starts_answers_restarts_and_stops() -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        try:
            client.set("k", "v")
            assert client.ping()

            server.restart()  # no persistence: a restart is a fresh, empty Redis

            assert client.ping()
            assert client.get("k") is None
            port, directory = server.port, server.dir
        finally:
            client.close()

    assert directory is not None and not directory.exists()
    with (
        redis.Redis(port=port, socket_connect_timeout=0.5) as gone,
        pytest.raises(redis.ConnectionError),
    ):
        gone.ping()


def test_redis_kill_then_restart_on_the_same_port() -> None:
    with RedisServer() as server:
        url = server.url
        server.kill()
        with redis.Redis.from_url(url, socket_connect_timeout=0.5) as client:
            with pytest.raises(redis.ConnectionError):
                client.ping()
            server.restart()
            assert client.ping()


@pytest.mark.postgres
def test_postgres_starts_answers_restarts_and_stops(postgres_binaries: Path) -> None:
    with PostgresServer(bin_dir=postgres_binaries) as server:
        with psycopg.connect(server.url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        url = server.create_database("publisher_test")
        with psycopg.connect(url) as conn:
            conn.execute("create table t (n int)")
            conn.execute("insert into t values (7)")

        server.restart()

        with psycopg.connect(url) as conn:
            assert conn.execute("select n from t").fetchone() == (7,)
        server.restart(crash=True)
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        directory = server.dir

    assert directory is not None and not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=1)
