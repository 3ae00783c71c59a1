"""A real publishing pipeline for tests: Celery worker and beat processes on a real Redis,
a real database, and the sandbox standing in for the providers.

Posts are created through the Python API (``publisher.service``), exactly as a main app
written in Python would; everything after approval happens in the subprocesses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import db, service
from publisher.core.models import ApiCall, Notification, Post, utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import TokenBox
from publisher.ops.supervisor import celery_command, control_command, worker_command
from publisher.sandbox import Sandbox
from tests.support.services import RedisServer

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
FINAL = {"done", "cancelled", "draft"}

# Fast settings so a test sees retries and rescues in seconds, not minutes.
FAST_ENV = {
    "PUBLISHER_SWEEP_INTERVAL": "1",
    "PUBLISHER_RETRY_BASE": "0.2",
    "PUBLISHER_RETRY_MAX": "2",
    "PUBLISHER_HTTP_CONNECT_TIMEOUT": "1",
    "PUBLISHER_HTTP_TIMEOUT": "1",
    "PUBLISHER_LEASE_SECONDS": "6",
    "PUBLISHER_ENQUEUE_GRACE": "4",
    "PUBLISHER_MAX_ATTEMPTS": "4",
    # The sandbox runs on 127.0.0.1, on PostgreSQL too (where the default refuses it).
    "PUBLISHER_ALLOW_PRIVATE_URLS": "true",
}


class Pipeline:
    def __init__(
        self, workdir: Path, database_url: str, redis_url: str, sandbox: Sandbox, **overrides: str
    ) -> None:
        self.workdir = workdir
        self.sandbox = sandbox
        self.env = dict(os.environ)
        self.env.update(FAST_ENV)
        self.env.update(
            {
                "PUBLISHER_DATA_DIR": str(workdir / "data"),
                "PUBLISHER_DATABASE_URL": database_url,
                "PUBLISHER_REDIS_URL": redis_url,
                "PUBLISHER_SECRET_KEY": Fernet.generate_key().decode(),
                "SENTRY_DSN": sandbox.sentry_dsn,
                "PUBLISHER_NOTIFY_URL": sandbox.url + "/notify",
                "PUBLISHER_NOTIFY_SECRET": "notify-secret",
                "PYTHONUNBUFFERED": "1",
                "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            }
        )
        (workdir / "metrics").mkdir(exist_ok=True)
        self.env.update(overrides)
        self.settings = Settings.from_env(self.env)
        engine = db.make_engine(database_url)
        db.upgrade(engine)
        self.sessions: sessionmaker[Session] = db.make_sessionmaker(engine)
        self.box = TokenBox(self.settings.secret_keys)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # Processes -----------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Starts ``argv`` (a celery command line) with the pipeline's environment."""
        return self._spawn(name, argv)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        process = subprocess.Popen(
            argv,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: ``stop`` ends its children too
        )
        self.processes[name] = process
        return process

    def start_worker(
        self, name: str = "worker", concurrency: int | None = None
    ) -> subprocess.Popen[bytes]:
        """A publishing worker as deployed (threads; ``concurrency`` None: the default)."""
        return self._spawn(name, worker_command(name, concurrency))

    def start_control(self, name: str = "control") -> subprocess.Popen[bytes]:
        """The control worker (sweeps, notifications, prune)."""
        return self._spawn(name, control_command(name))

    def start_beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        """Beat, and the control worker that runs what it schedules (unless running)."""
        if "control" not in self.processes:
            self.start_control()
        return self._spawn(name, celery_command("beat", "--loglevel", "INFO"))

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(signum)
        process.wait(timeout=30)

    def stop(self) -> None:
        """Ends every process and its children at once (SIGKILL to each process group).

        A test has asserted what it needed by now; Celery's warm shutdown would cost a
        second or two per test and prove nothing here (``test_run``, ``test_deploy`` and
        ``test_messages`` test the graceful stop itself).
        """
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=20)
        self.processes.clear()

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # Data ----------------------------------------------------------------------------

    def account(self, billing_status: str = "active", paused: bool = False) -> int:
        with self.sessions.begin() as session:
            account = service.create_account(session, "test", billing_status)
            account.paused = paused
            return account.id

    def credential(
        self, account_id: int, provider: str = "mastodon", token: str = "tok-valid", **extra: Any
    ) -> int:
        base = {
            "mastodon": self.sandbox.url,
            "x": self.sandbox.url,
            "webhook": self.sandbox.url + "/hooks/main",
            "bluesky": self.sandbox.url,
            "facebook": self.sandbox.url + "/v24.0",  # Graph's versioned root
            "threads": self.sandbox.url + "/v1.0",  # graph.threads.net's versioned root
        }[provider]
        with self.sessions.begin() as session:
            return service.add_credential(
                session, self.box, account_id, provider, base, token, **extra
            ).id

    def post(
        self, account_id: int, credential_id: int, text: str, approve: bool = True, **extra: Any
    ) -> int:
        with self.sessions.begin() as session:
            post = service.create_post(session, account_id, credential_id, text, **extra)
            if approve:
                service.approve(session, post.id, utcnow())
            return post.id

    def get(self, post_id: int) -> Post:
        with self.sessions() as session:
            post = session.get(Post, post_id)
            assert post is not None
            return post

    def calls(self, post_id: int) -> list[ApiCall]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(ApiCall).where(ApiCall.post_id == post_id).order_by(ApiCall.id)
                )
            )

    def notifications(self, post_id: int) -> list[Notification]:
        with self.sessions() as session:
            return list(
                session.scalars(select(Notification).where(Notification.post_id == post_id))
            )

    def wait_final(
        self, post_ids: Iterable[int], timeout: float = 60.0, final: set[str] = FINAL
    ) -> dict[int, Post]:
        ids = list(post_ids)

        def settled() -> dict[int, Post] | None:
            with self.sessions() as session:
                posts = {p.id: p for p in session.scalars(select(Post).where(Post.id.in_(ids)))}
            return posts if all(p.state in final for p in posts.values()) else None

        return wait_for(settled, timeout, lambda: self._describe(ids))

    def _describe(self, ids: list[int]) -> str:
        with self.sessions() as session:
            rows = session.execute(
                select(Post.id, Post.state, Post.attempts, Post.last_error_message).where(
                    Post.id.in_(ids)
                )
            )
            states = [tuple(row) for row in rows]
        return f"posts: {states}\n--- worker log tail ---\n{self.log('worker')[-3000:]}"


def wait_for(
    check: Callable[[], T | None], timeout: float, describe: Callable[[], str] = lambda: ""
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s\n{describe()}")


@contextmanager
def running_pipeline(
    workdir: Path, database_url: str, sandbox: Sandbox, **overrides: str
) -> Iterator[Pipeline]:
    """A ``Pipeline`` on a Redis of its own, its processes stopped on the way out."""
    with RedisServer() as redis_server:
        pipeline = Pipeline(workdir, database_url, redis_server.url, sandbox, **overrides)
        try:
            yield pipeline
        finally:
            pipeline.stop()
