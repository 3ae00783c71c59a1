"""``publisher run``: the whole pipeline as supervised child processes.

Starts the embedded Redis (unless ``PUBLISHER_REDIS_URL`` is set), applies migrations,
then runs the HTTP API, a publishing worker, a control worker (sweep, rescues,
notifications: never behind a publish backlog) and beat. A child that dies is restarted
(with a pause that grows if it keeps dying); SIGINT/SIGTERM stops every child cleanly,
Redis last, and leaves no orphans.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from publisher.core import control, db
from publisher.core.settings import Settings
from publisher.ops.constants import CONTROL_CONCURRENCY, CONTROL_QUEUE, QUEUE
from publisher.ops.embedded_redis import start_redis

log = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0  # s a child gets to finish its current work after SIGTERM
RESTART_PAUSE_MAX = 30.0  # s: the longest pause between restarts of a crashing child


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            self.argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.started_at = time.monotonic()
        log.info("started %s (pid %s)", self.name, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):  # it just exited
                os.killpg(self.process.pid, signum)


def celery_command(role: str, *args: str) -> list[str]:
    """``celery -A publisher ROLE ARGS`` with this interpreter (the one place it is spelled)."""
    return [sys.executable, "-m", "celery", "-A", "publisher", role, *args]


def publish_worker_args(*args: str) -> list[str]:
    """``celery worker`` arguments of a publishing worker (``publisher worker``): the
    publish queue only, the pool and concurrency of the Celery app's configuration."""
    return ["-Q", QUEUE, *args]


def control_worker_args(*args: str) -> list[str]:
    """``celery worker`` arguments of the control worker (``publisher control``): the
    sweep, notification deliveries and the prune, in a small pool of their own."""
    return ["-Q", CONTROL_QUEUE, "--concurrency", str(CONTROL_CONCURRENCY), *args]


def _quiet_node(name: str) -> list[str]:
    hostname = f"{name}-{os.getpid()}@%h"
    return ["--loglevel", "INFO", "--hostname", hostname, "--without-gossip", "--without-mingle"]


def worker_command(name: str, concurrency: int | None = None) -> list[str]:
    """A publishing worker as ``publisher run`` and the tests start it; ``concurrency``
    None: ``PUBLISHER_WORKER_CONCURRENCY``."""
    extra = [] if concurrency is None else ["--concurrency", str(concurrency)]
    return celery_command("worker", *publish_worker_args(*_quiet_node(name), *extra))


def control_command(name: str) -> list[str]:
    """The control worker as ``publisher run`` and the tests start it."""
    return celery_command("worker", *control_worker_args(*_quiet_node(name)))


def children(settings: Settings, concurrency: int | None) -> list[Child]:
    return [
        Child("web", [sys.executable, "-m", "publisher.cli", "web"]),
        Child("worker", worker_command("worker", concurrency)),
        Child("control", control_command("control")),
        Child("beat", celery_command("beat", "--loglevel", "INFO")),
    ]


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["PUBLISHER_DATA_DIR"] = str(settings.data_dir)
    env["PUBLISHER_DATABASE_URL"] = settings.database_url
    metrics_dir = settings.data_dir / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    return env


def prepare_database(settings: Settings) -> None:
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    # The broker may have lost queued messages while we were down: let the first sweep
    # enqueue every due post again (claims are atomic, so a duplicate message is harmless).
    with db.transaction(db.make_sessionmaker(engine)) as session:
        control.forget_enqueued(session)
    engine.dispose()


class Supervisor:
    def __init__(self, settings: Settings, concurrency: int | None = None) -> None:
        self.settings = settings
        self.children = children(settings, concurrency)
        self.stopping = False
        self.redis: subprocess.Popen[bytes] | None = None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        if self.settings.embedded_redis:
            self.redis = start_redis(self.settings)
        try:
            prepare_database(self.settings)
            env = child_env(self.settings)
            for child in self.children:
                child.start(env)
            self._watch(env)
        finally:
            self._stop()
        return 0

    def _watch(self, env: dict[str, str]) -> None:
        while not self.stopping:
            time.sleep(0.2)
            for child in self.children:
                if not self.stopping and not child.alive():
                    self._restart(child, env)

    def _restart(self, child: Child, env: dict[str, str]) -> None:
        code = child.process.returncode if child.process else None
        quick = time.monotonic() - child.started_at < 10
        child.restarts = child.restarts + 1 if quick else 0
        pause = min(RESTART_PAUSE_MAX, 0.5 * 2**child.restarts)
        log.warning("%s exited (code %s); restarting in %.1f s", child.name, code, pause)
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not self.stopping:
            time.sleep(0.1)
        if not self.stopping:
            child.start(env)

    def _stop(self) -> None:
        for child in self.children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            while child.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if child.alive():
                log.warning("%s did not stop in time: killing it", child.name)
                child.signal(signal.SIGKILL)
            if child.process is not None:
                child.process.wait()
        if self.redis is not None:
            self.redis.terminate()
            try:
                self.redis.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()
        log.info("stopped")
