"""Operations on real processes: worker crashes, the watchdog, two beats, rate limits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.core import control
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=2.0, strict=("mastodon", "x")) as running:
        yield running


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def pipeline(tmp_path: Path, redis_server: RedisServer, sandbox: Sandbox) -> Iterator[Pipeline]:
    running = Pipeline(
        tmp_path, f"sqlite:///{tmp_path / 'publisher.db'}", redis_server.url, sandbox
    )
    yield running
    running.stop()


def _watchdog(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", "watchdog", *args],
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_killed_mid_call_is_rescued_without_a_duplicate(pipeline: Pipeline) -> None:
    # Given a worker that is inside a slow provider call (the post gets created)
    pipeline.sandbox.slow_seconds = 0.8  # under the read timeout: the call would succeed
    pipeline.start_worker("doomed", concurrency=1)
    pipeline.start_beat()
    account = pipeline.account()
    credential = pipeline.credential(account)
    post_id = pipeline.post(account, credential, f"[[fault:slow]] rescue me {account}")
    wait_for(lambda: pipeline.get(post_id).state == "running", 30, lambda: pipeline.log("doomed"))
    time.sleep(0.3)
    # When the worker is killed before it records the result
    pipeline.kill("doomed", signal.SIGKILL)
    subprocess.run(["pkill", "-9", "-f", "doomed-"], check=False)
    # Then the sweep rescues the post after its lease and another worker finishes it once
    pipeline.start_worker("rescuer")
    post = pipeline.wait_final([post_id], timeout=60)[post_id]
    assert post.state == "done"
    assert pipeline.sandbox.create_count(text=post.text) == 1
    categories = [c.category for c in pipeline.calls(post_id)]
    assert categories[0] == "abandoned" and categories[-1] in ("reconciled", "success")
    assert post.attempts == 1  # the rescued attempt was refunded


def test_watchdog_sees_beat_die_and_repair_publishes(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_beat()
    # Healthy while beat runs
    wait_for(lambda: _watchdog(pipeline).returncode == 0, 30, lambda: _watchdog(pipeline).stderr)
    healthy = json.loads(_watchdog(pipeline, "--json").stdout)
    assert healthy["healthy"] and healthy["schedule_entry"] is True
    # Unhealthy once the heartbeat is older than three intervals
    pipeline.kill("beat")
    wait_for(lambda: _watchdog(pipeline).returncode != 0, 60)
    sick = json.loads(_watchdog(pipeline, "--json").stdout)
    assert sick["heartbeat_limit"] == 3 * pipeline.settings.sweep_interval
    assert sick["heartbeat_age"] > sick["heartbeat_limit"]
    result = _watchdog(pipeline)
    assert "last sweep" in result.stderr
    # And Sentry got an alert (SENTRY_DSN points at the sandbox)
    wait_for(
        lambda: [
            e for e in pipeline.sandbox.sentry_events if "publisher watchdog" in json.dumps(e)
        ],
        10,
    )
    # And --repair publishes a due post with beat still down (and the entry was deleted)
    from redis import Redis

    from publisher.ops.celery_app import SWEEP_ENTRY, app

    Redis.from_url(pipeline.settings.redis_client_url).delete(
        app.conf.redbeat_key_prefix + SWEEP_ENTRY
    )
    assert json.loads(_watchdog(pipeline, "--json").stdout)["schedule_entry"] is False
    account = pipeline.account()
    post_id = pipeline.post(account, pipeline.credential(account), f"while beat is down {account}")
    repaired = _watchdog(pipeline, "--repair")
    assert "repaired" in repaired.stdout, repaired.stderr
    assert pipeline.wait_final([post_id], timeout=30)[post_id].state == "done"
    assert json.loads(_watchdog(pipeline, "--json").stdout)["schedule_entry"] is True


def test_two_beats_sweep_once_per_interval(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_beat("beat-a")
    pipeline.start_beat("beat-b")

    def count() -> int:
        with pipeline.sessions() as session:
            value = control.read(session, control.HEARTBEAT) or {}
        return int(value.get("count", 0))

    wait_for(lambda: count() >= 2, 30)
    start, began = count(), time.monotonic()
    time.sleep(8)
    sweeps = count() - start
    intervals = (time.monotonic() - began) / pipeline.settings.sweep_interval
    # Two active beats would sweep about twice per interval
    assert sweeps <= intervals + 2, f"{sweeps} sweeps in {intervals:.1f} intervals"
    assert sweeps >= 2
    logs = pipeline.log("beat-a") + pipeline.log("beat-b")
    assert logs.count("Acquired lock") == 1


def test_rate_limit_defers_the_credentials_other_posts(pipeline: Pipeline) -> None:
    from publisher.core.models import Credential

    account = pipeline.account()
    credential = pipeline.credential(account)
    limited = pipeline.post(account, credential, f"[[fault:429,ok]] first {account}")
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([limited], timeout=60)[limited]
    assert post.state == "done" and post.attempts == 2
    with pipeline.sessions() as session:
        stored = session.get(Credential, credential)
        assert stored is not None and stored.rate_limited_until is not None
    calls = pipeline.calls(limited)
    assert calls[0].category == "unavailable" and calls[0].status_code == 429
    assert calls[1].started_at >= calls[0].finished_at  # type: ignore[operator]


def test_beat_restores_a_lost_schedule_entry(pipeline: Pipeline) -> None:
    from redis import Redis

    from publisher.ops.celery_app import SWEEP_ENTRY, app

    pipeline.start_worker()
    pipeline.start_beat()

    def count() -> int:
        with pipeline.sessions() as session:
            value = control.read(session, control.HEARTBEAT) or {}
        return int(value.get("count", 0))

    wait_for(lambda: count() >= 1, 30, lambda: pipeline.log("beat"))
    # When Redis loses the entry while beat holds its lock
    client = Redis.from_url(pipeline.settings.redis_client_url)
    key = app.conf.redbeat_key_prefix + SWEEP_ENTRY
    client.delete(key)
    client.zrem(app.conf.redbeat_key_prefix + ":schedule", key)
    before = count()
    # Then beat writes it back and sweeping goes on
    wait_for(lambda: count() >= before + 2, 30, lambda: pipeline.log("beat")[-2000:])
    assert client.hexists(key, "definition")
    assert "restoring" in pipeline.log("beat")
