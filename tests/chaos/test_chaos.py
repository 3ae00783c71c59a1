"""The chaos soak (``tests/chaos/soak.py``), small enough for CI.

A few hundred posts through real worker, beat, redis-server and database processes while
the strict sandbox (no help from idempotency keys or duplicate checks) faults 20% of create
calls, many after storing the post, workers are SIGKILLed, Redis restarts twice and,
on PostgreSQL, the database restarts once. Every post must end final and be published at
most once (exactly once when done), with a complete call log. ``CHAOS_SEED`` replays a
fault sequence (the kill timing is the machine's).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.chaos.soak import FINDINGS_FILE, Scenario, run
from tests.support.services import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

POSTS = 200
WINDOW = 25.0  # seconds over which the posts fall due: long enough for several kills
KILL_EVERY = (1.0, 3.0)  # seconds of full strength between worker kills


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_post_is_published_once_despite_the_chaos(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    postgres: PostgresServer | None = None
    if db == "sqlite":
        url = f"sqlite:///{tmp_path / 'publisher.db'}"
    else:
        postgres = request.getfixturevalue("postgres")
        url = postgres.create_database(f"chaos_{os.getpid()}_{tmp_path.name.replace('-', '_')}")
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    # The suite's server trades durability for speed, so its restart is a clean one.
    scenario = Scenario(
        posts=POSTS, window=WINDOW, kill_every=KILL_EVERY, seed=seed, pg_restarts=1, pg_crash=False
    )

    report = run(scenario, tmp_path, url, postgres)

    print(report.line())
    print(report.details())
    findings = (tmp_path / FINDINGS_FILE).read_text()
    context = f"seed {seed}\n{report.line()}\n{report.details()}\n{findings}"
    assert report.problems == [], context
    assert report.posts == POSTS and report.done + report.draft + report.cancelled == POSTS
    assert report.done >= POSTS * 0.9, context  # a give-up needs 8 faults in a row
    assert report.wrong_id == 0, context
    assert report.creates == report.done + report.uncertain_published, context
    assert report.counters["kills"] >= 1, context
    assert report.counters["redis_restarts"] == scenario.redis_restarts
    assert report.counters["pg_restarts"] == (scenario.pg_restarts if postgres else 0)
