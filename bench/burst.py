"""Burst: many posts due in the same second, and what it takes to publish them all.

The posts are approved in one statement for one instant ``T`` a little ahead, with the
deployed publishing worker (threads), the control worker and beat running at the
production defaults (sweep every 10 s, look-ahead
10 s, grace 60 s), so the sweep enqueues them as it would at 09:00:00 on a busy morning.
Measured: the time from ``T`` to the last post done, lateness (first attempt start minus
``T``), every sweep's report as the control worker logged it (messages sent, duration), the
messages the publishing worker consumed, Redis's queue and memory, and the verdicts:
every post done, the sandbox created each post exactly once, no duplicates.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import func, select

from bench import seed
from bench.report import Report, percentile
from bench.stack import Stack, engine_of, wait_ready
from publisher.core.models import Post, utcnow
from publisher.ops.constants import QUEUE
from tests.support.pipeline import Pipeline

LEAD = 12.0  # s from approval to T: the workers are warm and a sweep lands before T
SAMPLE_EVERY = 1.0  # s between samples of progress, Redis and worker memory
RESULT = re.compile(r"Task publisher\.publish\[[^\]]+\] succeeded in [\d.]+s: '(\w+)'")
SWEPT = re.compile(r"Task publisher\.sweep\[[^\]]+\] succeeded in [\d.]+s: (\{.*\})")


@dataclass(frozen=True)
class Params:
    posts: int
    concurrency: int | None  # None: the deployed default
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        return cls(args.posts or (2_000 if args.quick else 5_000), args.concurrency, dbs)


@dataclass
class Samples:
    """What the monitor loop saw while the burst drained."""

    queue_peak: int = 0
    unacked_peak: int = 0
    redis_peak_mb: float = 0.0
    worker_rss_peak_mb: float = 0.0


def run(stack: Stack, params: Params) -> Report:
    report = Report("burst", params.__dict__.copy())
    for db in params.dbs:
        pipeline = stack.pipeline(db, f"burst_{db}")
        try:
            figures, verdicts, sweeps = _burst(stack, pipeline, params)
        finally:
            stack.release(pipeline)
        report.row(db=db, **figures)
        report.extra[f"sweeps_{db}"] = sweeps
        for name, (goal, value, met) in verdicts.items():
            report.target(f"{db}: {name}", goal, value, met)
    return report


def _burst(
    stack: Stack, pipeline: Pipeline, params: Params
) -> tuple[dict[str, Any], dict[str, tuple[str, float, bool]], list[dict[str, Any]]]:
    account = pipeline.account()
    owner = seed.Owner(account, pipeline.credential(account, "webhook"))
    n = params.posts
    ids = seed.bulk_insert(engine_of(pipeline), seed.due_rows(owner, [utcnow()] * n, "draft"))
    span = seed.id_range(ids)
    pipeline.start_worker("worker", params.concurrency)
    pipeline.start_beat()
    wait_ready(stack, pipeline, "worker")
    wait_ready(stack, pipeline, "control")
    due = utcnow() + timedelta(seconds=LEAD)
    seed.approve_at(pipeline.sessions, span, due)
    samples = _monitor(stack, pipeline, span, timeout=LEAD + 120 + n / 10)
    with pipeline.sessions() as session:
        rows = session.execute(
            select(
                Post.state, Post.first_started_at, Post.published_at, Post.idempotency_key
            ).where(Post.id.between(*span))
        ).all()
    states = Counter(row.state for row in rows)
    late = [(row.first_started_at - due).total_seconds() for row in rows if row.first_started_at]
    last = max(row.published_at for row in rows if row.published_at)
    keys = {row.idempotency_key for row in rows}
    created = Counter(c.idempotency_key for c in stack.sandbox.creates if c.idempotency_key in keys)
    once = sum(1 for key in keys if created[key] == 1)
    results = Counter(RESULT.findall(pipeline.log("worker")))
    sweeps = _sweeps(pipeline.log("control"))  # the sweep runs on the control worker
    sent = sum(int(s["enqueued"]) for s in sweeps)
    drain = (last - due).total_seconds()
    figures = {
        "posts": n,
        "drain_s": drain,
        "per_s": n / drain,
        "late_p50_s": percentile(late, 0.5),
        "late_p99_s": percentile(late, 0.99),
        "late_max_s": max(late),
        "first_start_s": min(late),
        "done": states["done"],
        "created_once": once,
        "duplicates": len(stack.sandbox.duplicates()),
        "sweeps_logged": len(sweeps),
        "sweep_messages": sent,
        "consumed": sum(results.values()),
        "not_claimed": results.get("not_claimed", 0),
        "sweep_max_ms": max((float(s["duration_ms"]) for s in sweeps), default=0.0),
        "sweeps_overlapping": _overlap(sweeps),
        "sweep_gap_max_s": _longest_gap(sweeps, last),
        "queue_peak": samples.queue_peak,
        "redis_peak_mb": samples.redis_peak_mb,
        "worker_rss_peak_mb": samples.worker_rss_peak_mb,
    }
    verdicts = {
        "every post done": (f"{n}", float(states["done"]), states["done"] == n),
        "created exactly once": (f"{n}", float(once), once == n),
        "no duplicates": ("0", float(figures["duplicates"]), figures["duplicates"] == 0),
    }
    timeline = [
        {"at_s": round((datetime.fromisoformat(s["at"]) - due).total_seconds(), 1)} | s
        for s in sweeps
    ]
    return figures, verdicts, timeline


def _sweeps(log: str) -> list[dict[str, Any]]:
    """Every sweep's report as its task logged it, in start order."""
    found = [ast.literal_eval(match) for match in SWEPT.findall(log)]
    # A sweep that found another one running logs {"skipped": True} and has no time.
    return sorted((r for r in found if "at" in r), key=lambda report: str(report["at"]))


def _longest_gap(sweeps: list[dict[str, Any]], until: datetime) -> float:
    """The longest wait between sweep starts (beat asks every interval; a longer gap means
    the sweep message waited behind publish messages)."""
    starts = [datetime.fromisoformat(s["at"]) for s in sweeps] + [until]
    return max((b - a).total_seconds() for a, b in itertools.pairwise(starts))


def _overlap(sweeps: list[dict[str, Any]]) -> int:
    """The most sweeps that were running at the same moment."""
    edges = []
    for s in sweeps:
        start = datetime.fromisoformat(s["at"]).timestamp()
        edges += [(start, 1), (start + float(s["duration_ms"]) / 1000, -1)]
    running = most = 0
    for _, step in sorted(edges):
        running += step
        most = max(most, running)
    return most


def _monitor(stack: Stack, pipeline: Pipeline, span: tuple[int, int], timeout: float) -> Samples:
    count = span[1] - span[0] + 1
    samples = Samples()
    client = redis.Redis.from_url(stack.redis.url)
    deadline = time.monotonic() + timeout
    worker = pipeline.processes["worker"]
    try:
        while time.monotonic() < deadline:
            with pipeline.sessions() as session:
                done = session.execute(
                    select(func.count()).where(Post.id.between(*span), Post.state == "done")
                ).scalar_one()
            samples.queue_peak = max(samples.queue_peak, int(client.llen(QUEUE)))
            samples.unacked_peak = max(samples.unacked_peak, int(client.hlen("unacked")))
            used = int(client.info("memory")["used_memory"]) / 2**20
            samples.redis_peak_mb = max(samples.redis_peak_mb, round(used, 1))
            rss = _rss_mb(worker.pid)  # one process: the threads share its memory
            samples.worker_rss_peak_mb = max(samples.worker_rss_peak_mb, round(rss, 1))
            if done == count:
                return samples
            time.sleep(SAMPLE_EVERY)
    finally:
        client.close()
    raise TimeoutError(f"burst not drained after {timeout:.0f} s: {done}/{count} done")


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
