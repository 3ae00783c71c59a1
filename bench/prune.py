"""Retention: a prune beside a million history rows, and what the sweep feels meanwhile.

Finished posts spread over the past year are bulk-loaded with one call-log row and two
history events each, written in time order as the engine writes them (``--posts``
posts: 3x that many history rows), beside 1,000 due posts. The sweep
(``publisher.sweep.run``, enqueue only counting, as in ``bench.sweep``) is timed on its
own (before and after the prune), and over and over while ``publisher prune`` runs as
its own process (as a worker would run it): rows deleted per second, batches, and the
sweep's latency during the prune against its latency alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from bench import seed
from bench.report import Report, percentile
from bench.stack import Stack, engine_of
from bench.sweep import _dependencies, _settle, _unmark
from publisher.core.models import utcnow
from publisher.engine import sweep

# The sweep while a prune runs costs at most this many times its cost alone (median).
TARGET = 2.0
DUE = 1_000
HISTORY = (
    # one call per post, at the post's time
    "INSERT INTO api_calls (post_id, attempt, provider, method, url, request_headers, "
    "response_headers, category, started_at) SELECT id, 1, 'webhook', 'POST', "
    "'http://bench/hook', '{}', '{}', 'success', updated_at FROM posts WHERE state = 'done' "
    "ORDER BY updated_at",
    # two events per post (start, succeed), all in time order as the engine writes them
    "INSERT INTO post_events (post_id, from_state, to_state, trigger, actor, at) "
    "SELECT post_id, from_state, to_state, trigger, 'engine', at FROM ("
    "SELECT id AS post_id, 'approved' AS from_state, 'running' AS to_state, "
    "'start' AS trigger, updated_at AS at, 0 AS step FROM posts WHERE state = 'done' "
    "UNION ALL SELECT id, 'running', 'done', 'succeed', updated_at, 1 FROM posts "
    "WHERE state = 'done') AS events ORDER BY at, post_id, step",
)


@dataclass(frozen=True)
class Params:
    finished: int
    idle_sweeps: int
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        quick, posts = args.quick, args.posts
        finished = posts or (50_000 if quick else 350_000)
        return cls(finished=finished, idle_sweeps=10, dbs=dbs)


def run(stack: Stack, params: Params) -> Report:
    report = Report("prune", params.__dict__.copy())
    for db in params.dbs:
        pipeline = stack.pipeline(db, f"prune_{db}")
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        engine = engine_of(pipeline)
        due = utcnow() - timedelta(minutes=1)
        seed.bulk_insert(
            engine, seed.due_rows(owner, [due + timedelta(milliseconds=i) for i in range(DUE)])
        )
        started = time.perf_counter()
        seed.bulk_insert(engine, seed.done_rows(owner, params.finished))
        history = _load_history(engine)
        load = time.perf_counter() - started
        _settle(engine)
        deps, sent = _dependencies(pipeline)
        before = [_sweep_ms(deps, sent) for _ in range(params.idle_sweeps + 1)][1:]
        during, pruned = _sweeps_during_prune(pipeline.env, deps, sent)
        after = [_sweep_ms(deps, sent) for _ in range(params.idle_sweeps)]
        # The sweep alone, before and after the prune (caches warm up in between).
        idle = before + after
        prune_s = float(pruned["seconds"])
        deleted = sum(pruned["deleted"].values())
        ratio = statistics.median(during) / statistics.median(idle)
        report.row(
            db=db,
            history_rows=history,
            load_s=round(load, 1),
            deleted=deleted,
            prune_s=round(prune_s, 1),
            rows_per_s=round(deleted / prune_s),
            batches=pruned["batches"],
            batch_ms=round(prune_s * 1000 / max(pruned["batches"], 1), 1),
            sweep_alone_ms=round(statistics.median(idle), 1),
            sweep_alone_p95_ms=round(percentile(idle, 0.95), 1),
            sweep_during_ms=round(statistics.median(during), 1),
            sweep_during_p95_ms=round(percentile(during, 0.95), 1),
            sweep_during_max_ms=round(max(during), 1),
            sweeps_during=len(during),
            ratio=ratio,
        )
        report.extra[f"deleted_{db}"] = pruned["deleted"]
        report.target(f"{db}: sweep during a prune", f"<= {TARGET}x alone", ratio, ratio <= TARGET)
        stack.release(pipeline)
    return report


def _load_history(engine: Engine) -> int:
    with engine.begin() as connection:
        for statement in HISTORY:
            connection.exec_driver_sql(statement)
        calls = connection.exec_driver_sql("SELECT count(*) FROM api_calls").scalar_one()
        events = connection.exec_driver_sql("SELECT count(*) FROM post_events").scalar_one()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql("VACUUM (ANALYZE) api_calls")
            autocommit.exec_driver_sql("VACUUM (ANALYZE) post_events")
    return int(calls) + int(events)


def _sweep_ms(deps: Any, sent: list[int]) -> float:
    _unmark(deps.sessions.kw["bind"])
    sent.clear()
    started = time.perf_counter()
    report = sweep.run(deps)
    elapsed = (time.perf_counter() - started) * 1000
    assert report.enqueued == DUE == len(sent), (report, len(sent))
    return elapsed


def _sweeps_during_prune(
    env: dict[str, str], deps: Any, sent: list[int]
) -> tuple[list[float], dict[str, Any]]:
    """Sweeps back to back while ``publisher prune`` runs, and the prune's report."""
    prune = subprocess.Popen(
        [sys.executable, "-m", "publisher.cli", "prune"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    during: list[float] = []
    while prune.poll() is None or not during:
        during.append(_sweep_ms(deps, sent))
    output, _ = prune.communicate()
    assert prune.returncode == 0, output
    result: dict[str, Any] = json.loads(output.splitlines()[-1])
    return during, result
