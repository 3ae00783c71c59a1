"""The secret key: without it no process starts against a real database, and a token the
configured keys cannot decrypt holds its posts (an engine fault) instead of cancelling
them as the user's: no attempt used, no notification, one Sentry alert per credential,
and the watchdog says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from publisher.core import service
from publisher.core.models import Credential, utcnow
from publisher.core.tokens import TokenBox
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NO_KEY_ENV = {
    "PUBLISHER_DATABASE_URL": "postgresql://publisher:pw@127.0.0.1:1/publisher",
    "PUBLISHER_REDIS_URL": "redis://127.0.0.1:1/0",
}
CLI = [sys.executable, "-m", "publisher.cli"]
COMMANDS = {
    "web": [*CLI, "web"],
    "worker": [*CLI, "worker"],
    "beat": [*CLI, "beat"],
    "rotate-keys": [*CLI, "rotate-keys"],
    "watchdog": [*CLI, "watchdog"],
    "sweep": [*CLI, "sweep"],
    "run": [*CLI, "run"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_process_starts_without_the_secret_key(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(NO_KEY_ENV, PUBLISHER_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        COMMANDS[name], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "PUBLISHER_SECRET_KEY is not set" in lines[0], done.stderr
    assert not (tmp_path / "secret.key").exists()


def test_celery_directly_refuses_without_the_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(NO_KEY_ENV, PUBLISHER_DATA_DIR=str(tmp_path))
    argv = [sys.executable, "-m", "celery", "-A", "publisher", "worker", "--pool", "solo"]
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "PUBLISHER_SECRET_KEY is not set" in done.stderr


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    with RedisServer() as redis_server, Sandbox() as sandbox:
        running = Pipeline(tmp_path, database_url, redis_server.url, sandbox)
        running.start_worker(concurrency=1)
        running.start_beat()
        try:
            yield running
        finally:
            running.stop()


def test_undecryptable_token_holds_its_posts_and_alerts_once(pipeline: Pipeline) -> None:
    # Given a credential whose token was encrypted with a key the processes do not have
    account = pipeline.account()
    good = pipeline.credential(account, "webhook", token="tok-readable")
    foreign = TokenBox((Fernet.generate_key().decode(),))
    with pipeline.sessions.begin() as session:
        lost = service.add_credential(
            session, foreign, account, "webhook", pipeline.sandbox.url + "/hooks/k", "tok-lost"
        ).id
    # When three of its posts come due
    started = utcnow()
    held = [pipeline.post(account, lost, f"held {n}") for n in range(3)]
    sent = pipeline.post(account, good, "sent")
    # Then each is released untouched, to be tried again in some minutes
    pipeline.wait_final([sent])
    posts = pipeline.wait_final(held, final={"retry"})
    for post in posts.values():
        assert post.attempts == 0 and post.cancel_reason is None
        assert post.next_run_at is not None
        assert post.next_run_at > started + timedelta(minutes=4)
        assert pipeline.notifications(post.id) == []
    assert pipeline.sandbox.create_count(text="held 0") == 0
    with pipeline.sessions() as session:
        credential = session.get(Credential, lost)
        assert credential is not None and credential.invalid_since is None
    # And Sentry hears about the credential once, not once per post

    def alerts() -> list[dict[str, object]]:
        return [e for e in pipeline.sandbox.sentry_events if "cannot be decrypted" in str(e)]

    wait_for(alerts, 30, lambda: pipeline.log("worker")[-3000:])
    time.sleep(2)  # any later alert would be on its way by now
    assert len(alerts()) == 1, alerts()
    # And the watchdog reports the credential as unhealthy
    done = subprocess.run(
        [*CLI, "watchdog", "--json"],
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    health = json.loads(done.stdout)
    assert done.returncode == 1 and health["undecryptable"] == [lost], done.stdout + done.stderr
    assert any("cannot be decrypted" in p for p in health["problems"])
