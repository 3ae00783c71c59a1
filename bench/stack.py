"""The real components a benchmark runs on, started together and always stopped together.

A ``Stack`` owns one ``redis-server``, the sandbox (the providers) and, when asked for,
one PostgreSQL server; it hands out ``Pipeline``s (``tests.support.pipeline``) on SQLite
or on a fresh PostgreSQL database, and a Celery app to send messages with. Everything it
started is stopped on exit, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from celery import Celery

from bench import bare_app, cpu
from publisher.ops.supervisor import worker_command
from publisher.sandbox import Sandbox
from tests.support.pipeline import FAST_ENV, ROOT, Pipeline
from tests.support.services import PostgresServer, RedisServer

T = TypeVar("T")

# The pipeline harness is tuned for fast tests; a benchmark wants the production defaults
# (an empty value means "the default"), without Sentry or notification deliveries, which
# would measure the sandbox's capture endpoints rather than the engine.
BENCH_ENV = {key: "" for key in FAST_ENV} | {
    "SENTRY_DSN": "",
    "PUBLISHER_NOTIFY_URL": "",
    "PUBLISHER_NOTIFY_SECRET": "",
    # Every benchmark post shares one webhook credential: lift the per-credential limit
    # (default 1 call in flight), or the comparison with bare Celery measures the limit.
    "PUBLISHER_CREDENTIAL_CONCURRENCY": "1000",
    "PUBLISHER_ALLOW_PRIVATE_URLS": "true",  # the stand-in provider is on 127.0.0.1
}
READY_TIMEOUT = 60.0  # a cold worker on a loaded 2-core box imports in ~5 s


class Stack:
    """Redis, the sandbox and (lazily) PostgreSQL, plus the pipelines built on them."""

    def __init__(self, name: str, keep: bool = False) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self.keep = keep
        self.redis = RedisServer()
        self.sandbox = Sandbox()
        self._postgres: PostgresServer | None = None
        self._pipelines: list[Pipeline] = []
        self._sender: Celery | None = None
        self._names = 0

    def __enter__(self) -> Stack:
        try:
            self.redis.start()
            self.sandbox.start()
        except BaseException:
            self.close()
            raise
        # publisher.ops.celery_app builds its app from the environment at import: the announcer and
        # the workers' retries send through it, so point it at this Redis first.
        os.environ["PUBLISHER_REDIS_URL"] = self.redis.url
        os.environ["BENCH_BROKER_URL"] = self.redis.url
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop everything, each step even if an earlier one failed (then re-raise)."""
        steps: list[Callable[[], object]] = [p.stop for p in self._pipelines]
        if self._sender is not None:
            steps.append(self._sender.close)
        steps.append(self.sandbox.stop)
        if self._postgres is not None:
            steps.append(self._postgres.stop)
        steps.append(self.redis.stop)
        if not self.keep:
            steps.append(lambda: shutil.rmtree(self.workdir, ignore_errors=True))
        self._pipelines.clear()
        failure: BaseException | None = None
        for step in steps:
            try:
                step()
            except BaseException as exc:  # keep stopping the rest; report the first
                failure = failure or exc
        if failure is not None:
            raise failure

    @property
    def postgres(self) -> PostgresServer:
        if self._postgres is None:
            self._postgres = PostgresServer().start()
        return self._postgres

    @property
    def postgres_if_started(self) -> PostgresServer | None:
        return self._postgres

    def database_url(self, kind: str, label: str) -> str:
        """A fresh, empty database of ``kind`` ("sqlite" or "postgres")."""
        self._names += 1
        name = f"{label}_{self._names}"
        if kind == "sqlite":
            return f"sqlite:///{self.workdir / name}.db"
        if kind == "postgres":
            return self.postgres.create_database(name)
        raise ValueError(f"unknown database {kind!r}")

    def pipeline(self, kind: str, label: str, **overrides: str) -> Pipeline:
        """A pipeline on a fresh database (no processes started yet); stopped on exit."""
        url = self.database_url(kind, label)
        workdir = self.workdir / f"{label}_{self._names}"
        workdir.mkdir()
        env = BENCH_ENV | {"BENCH_BROKER_URL": self.redis.url} | overrides
        pipeline = Pipeline(workdir, url, self.redis.url, self.sandbox, **env)
        self._pipelines.append(pipeline)
        return pipeline

    def release(self, pipeline: Pipeline) -> None:
        """Stop ``pipeline``'s processes now and empty the broker for the next run."""
        pipeline.stop()
        self.flush_redis()

    def flush_redis(self) -> None:
        import redis

        with redis.Redis.from_url(self.redis.url) as client:
            client.flushall()

    @property
    def sender(self) -> Celery:
        """A Celery app on this Redis that only sends messages (and pings workers)."""
        if self._sender is None:
            self._sender = Celery("bench-sender", broker=self.redis.url)
            self._sender.conf.update(task_serializer="json", accept_content=["json"])
        return self._sender

    def send(self, task: str, queue: str, args_list: Sequence[tuple[Any, ...]]) -> None:
        """Send one message per argument tuple, on one pooled connection."""
        with self.sender.producer_or_acquire() as producer:
            for args in args_list:
                self.sender.send_task(task, args, queue=queue, producer=producer)


def start_bare_worker(
    pipeline: Pipeline, name: str, concurrency: int | None = None
) -> subprocess.Popen[bytes]:
    """``celery -A bench.bare_app worker``, started exactly as the harness starts a
    publishing worker (same pool, concurrency and flags: ``worker_command`` with the app
    and queue swapped), owned by ``pipeline``."""
    argv = worker_command(name, concurrency)
    argv[argv.index("publisher")] = "bench.bare_app"  # celery -A publisher -> the bare app
    argv[argv.index("-Q") + 1] = bare_app.QUEUE
    return pipeline.spawn(name, argv)


def wait_ready(stack: Stack, pipeline: Pipeline, name: str) -> None:
    """Block until worker ``name`` answers a ping (its pool is up, it consumes)."""
    process = pipeline.processes[name]
    prefix = f"{name}-{os.getpid()}@"

    def answered() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"worker {name} exited:\n{pipeline.log(name)[-3000:]}")
        replies = stack.sender.control.ping(timeout=0.5)
        return any(key.startswith(prefix) for reply in replies for key in reply)

    wait_until(answered, READY_TIMEOUT, f"worker {name} ready", interval=0.2)


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25
) -> T:
    """Poll ``check`` until it returns something truthy; TimeoutError names ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def sandbox_process(workdir: Path) -> Iterator[str]:
    """The sandbox in its own process; yields its base URL.

    For in-process measurements: a sandbox serving from a thread of the measuring process
    competes with it for the GIL and roughly doubles the cost of every database round trip.
    """
    from tests.support.services import free_port

    port = free_port()
    log = open(workdir / "sandbox.log", "ab")  # noqa: SIM115 - closed below
    argv = [sys.executable, "-m", "publisher.sandbox", "--port", str(port)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _listening(port) or process.poll() is not None, 30, "sandbox")
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited {process.returncode}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def provider_latency(sandbox: Sandbox, seconds: float) -> Iterator[None]:
    """Every provider call (one with a bearer token: publishes and the bare task's calls
    alike) is answered ``seconds`` later, like a real provider's API; the sandbox records
    the create when the request arrives, before the wait."""
    before = sandbox.latency_seconds
    sandbox.latency_seconds = seconds
    try:
        yield
    finally:
        sandbox.latency_seconds = before


def components(stack: Stack, pipeline: Pipeline, worker: str) -> dict[str, cpu.Pids]:
    """The processes a ``CpuMeter`` watches for a run of ``worker`` on ``pipeline``: the
    worker process (all its threads), the control worker and beat when running, Redis,
    PostgreSQL (postmaster and backends) and this process (driver and sandbox)."""

    def pids(process: subprocess.Popen[bytes] | None) -> cpu.Pids:
        return lambda: cpu.family(process.pid if process else None)

    found = {
        "worker": pids(pipeline.processes.get(worker)),
        "redis": pids(stack.redis.process),
        "bench_and_sandbox": cpu.itself,
    }
    for other in ("control", "beat"):
        if other in pipeline.processes:
            found[other] = pids(pipeline.processes[other])
    postgres = stack.postgres_if_started
    if postgres is not None and pipeline.settings.database_url.startswith("postgresql"):
        found["postgres"] = pids(postgres.process)
    return found


def engine_of(pipeline: Pipeline) -> Any:
    """The SQLAlchemy engine behind ``pipeline.sessions``."""
    return pipeline.sessions.kw["bind"]
