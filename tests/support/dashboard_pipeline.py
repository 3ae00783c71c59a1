"""A real pipeline behind a real ``publisher web``: the dashboard's browser tests that
need posts to go out (worker, beat, the sandbox) read the same database and Redis.

A test module takes both fixtures (``pipeline`` and ``web``) by importing
``pipeline_fixture`` and ``web_fixture``: its ``web`` then overrides the shared one in
tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from publisher.sandbox import Sandbox
from publisher.sandbox.faults import DEFAULT_MIX
from tests.support.browser import FULL, READONLY, publisher_web
from tests.support.pipeline import Pipeline, running_pipeline

# Beat sweeps every 2 s: fast for a test, and a loaded machine's pauses of a second or
# two stay inside the watchdog's limit of three intervals (6 s), so the page's verdict
# is "healthy" while beat runs.
SWEEP_INTERVAL = "2"


@contextmanager
def pipeline_with_beat(
    workdir: Path, database_url: str, fault_mix: tuple[str, ...] = DEFAULT_MIX, **overrides: str
) -> Iterator[Pipeline]:
    """A worker and beat (with its control worker) on a strict sandbox (every create
    creates, repeats accepted: a second publish would show); ``fault_mix``: the faults the
    sandbox draws when a test turns its ``fault_rate`` up; ``overrides``: more settings."""
    with (
        Sandbox(strict=True, fault_mix=fault_mix) as sandbox,
        running_pipeline(
            workdir, database_url, sandbox, PUBLISHER_SWEEP_INTERVAL=SWEEP_INTERVAL, **overrides
        ) as pipeline,
    ):
        pipeline.start_worker(concurrency=4)
        pipeline.start_beat()
        yield pipeline


@contextmanager
def web_for(pipeline: Pipeline, log: Path) -> Iterator[str]:
    """``publisher web`` with the pipeline's settings (its database, Redis, sweep
    interval: the watchdog's verdict is the pipeline's) and both kinds of key."""
    env = {k: v for k, v in pipeline.env.items() if k.startswith("PUBLISHER_")}
    env |= {"PUBLISHER_API_KEYS": FULL, "PUBLISHER_READONLY_API_KEYS": READONLY}
    with publisher_web(env, log) as url:
        yield url


@pytest.fixture(name="pipeline")
def pipeline_fixture(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    with pipeline_with_beat(tmp_path, database_url) as running:
        yield running


@pytest.fixture(name="web")
def web_fixture(pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    with web_for(pipeline, tmp_path / "web.log") as url:
        yield url
