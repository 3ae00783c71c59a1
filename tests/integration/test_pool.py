"""The worker processes as deployed: one publishing worker keeps many provider calls in
flight (Celery's threads pool) on reused keep-alive connections, and the sweep runs on the
control worker, so a publishing worker that cannot take work delays no sweep."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

THREADS = 16
CREATE = "/api/v1/statuses"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(strict=True) as running:  # no help from the stand-in: it accepts repeats
        yield running


def test_one_worker_keeps_many_calls_in_flight_on_reused_connections(
    tmp_path: Path, database_url: str, sandbox: Sandbox
) -> None:
    # Given one publishing worker with its default pool (threads), a credential that
    # allows many calls at once, and a provider that takes a second to answer
    with RedisServer() as redis_server:
        pipeline = Pipeline(
            tmp_path,
            database_url,
            redis_server.url,
            sandbox,
            PUBLISHER_WORKER_CONCURRENCY=str(THREADS),
            PUBLISHER_CREDENTIAL_CONCURRENCY="100",
            PUBLISHER_HTTP_TIMEOUT="5",
            PUBLISHER_LEASE_SECONDS="30",
        )
        sandbox.latency_seconds = 1.0
        try:
            account = pipeline.account()
            credential = pipeline.credential(account, "mastodon", token="tok-pool")
            # When 3 x THREADS posts fall due at once
            posts = [pipeline.post(account, credential, f"pool {n}") for n in range(3 * THREADS)]
            pipeline.start_worker()
            pipeline.start_beat()
            final = pipeline.wait_final(posts, timeout=120)
        finally:
            pipeline.stop()
    # Then each is published once, without a writer ever turned away (SQLite: one writer)
    assert {post.state for post in final.values()} == {"done"}
    assert "database is locked" not in pipeline.log("worker")
    assert all(sandbox.create_count(text=f"pool {n}") == 1 for n in range(3 * THREADS))
    # And the one process had many calls in flight at once (a prefork pool of the
    # machine's 2 CPUs: 2), never more than its threads
    peak = sandbox.max_in_flight("POST", CREATE, "tok-pool")
    assert THREADS // 2 <= peak <= THREADS, peak
    # And its calls went over kept-alive connections: at most one per thread
    clients = {call.client for call in sandbox.calls if call.path.startswith(CREATE)}
    assert len(clients) <= THREADS, len(clients)


def test_sweeps_go_on_while_the_publishing_worker_is_frozen(
    tmp_path: Path, database_url: str, sandbox: Sandbox
) -> None:
    # Given a publishing worker and beat (with the control worker), all running
    with RedisServer() as redis_server:
        pipeline = Pipeline(tmp_path, database_url, redis_server.url, sandbox)
        worker = pipeline.start_worker()
        try:
            account = pipeline.account()
            credential = pipeline.credential(account, "mastodon")
            pipeline.start_beat()
            warm = pipeline.post(account, credential, "warm-up")
            assert pipeline.wait_final([warm])[warm].state == "done"
            # When the publishing worker is frozen (as by a backlog of slow calls) and a
            # post falls due
            worker.send_signal(signal.SIGSTOP)
            post_id = pipeline.post(account, credential, "while frozen")
            # Then a sweep still finds it and sends its message
            wait_for(
                lambda: pipeline.get(post_id).enqueued_at,
                30,
                lambda: pipeline.log("control")[-3000:],
            )
            assert pipeline.get(post_id).state == "approved"
            # And once the worker runs again it is published, once
            worker.send_signal(signal.SIGCONT)
            assert pipeline.wait_final([post_id])[post_id].state == "done"
            assert sandbox.create_count(text="while frozen") == 1
        finally:
            worker.send_signal(signal.SIGCONT)
            pipeline.stop()
