"""Memory: the worker's resident set after many posts vs. after the first thousand.

One publishing worker as deployed (the threads pool: one process, all its threads share
its memory) publishes a supply of approved posts; the process's ``VmRSS`` (from
``/proc/<pid>/status``) is sampled after the first 1,000 posts and then every 1,000. The
target is judged on the measured ratio of the last sample to the first, at the size run
(``--posts 100000`` for the issue's figure), never on a projection; the least-squares
slope (KiB per 1,000 posts) is reported beside it for information.
"""

from __future__ import annotations

import argparse
import statistics
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psutil
from sqlalchemy import func, select

from bench import seed
from bench.report import Report
from bench.stack import Stack, engine_of, wait_ready, wait_until
from bench.verdict import Goal
from publisher.core.models import Post, utcnow
from publisher.ops.constants import QUEUE
from tests.support.pipeline import Pipeline

BASELINE = 1_000  # posts before the first sample: imports, pools and caches are warm
STEP = 1_000  # posts between samples
GOAL = Goal("<=", 1.1, "x")  # last sample / first sample


@dataclass(frozen=True)
class Params:
    posts: int
    concurrency: int | None  # None: the deployed default
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        return cls(args.posts or (3_000 if args.quick else 6_000), args.concurrency, dbs)


def run(stack: Stack, params: Params) -> Report:
    report = Report("memory", params.__dict__.copy())
    for db in params.dbs:
        pipeline = stack.pipeline(db, f"memory_{db}")
        try:
            samples = _samples(stack, pipeline, params)
        finally:
            stack.release(pipeline)
        first, last = samples[0], samples[-1]
        ratio = last["rss_mb"] / first["rss_mb"]
        report.row(
            db=db,
            posts=last["posts"],
            rss_first_mb=first["rss_mb"],
            rss_last_mb=last["rss_mb"],
            rss_max_mb=max(s["rss_mb"] for s in samples),
            threads=last["threads"],
            ratio=ratio,
            slope_kib_per_1000=_slope_kib_per_1000(samples),
        )
        report.extra[f"samples_{db}"] = samples
        report.judge(
            f"{db}: worker RSS after {last['posts']:,} posts / after {first['posts']:,}",
            GOAL,
            [ratio],
        )
    return report


def _samples(stack: Stack, pipeline: Pipeline, params: Params) -> list[dict[str, Any]]:
    account = pipeline.account()
    owner = seed.Owner(account, pipeline.credential(account, "webhook"))
    worker = pipeline.start_worker("worker", params.concurrency)
    wait_ready(stack, pipeline, "worker")
    due = utcnow() - timedelta(seconds=1)
    ids = seed.bulk_insert(engine_of(pipeline), seed.due_rows(owner, [due] * params.posts))
    span = seed.id_range(ids)
    # Sent from a thread while the samples are taken: sending 100,000 messages takes
    # longer than publishing the first 1,000, and the first sample must come at 1,000.
    sending = threading.Thread(
        target=stack.send, args=("publisher.publish", QUEUE, [(post_id,) for post_id in ids])
    )
    sending.start()
    samples = []
    for target in range(BASELINE, params.posts + 1, STEP):

        def reached(target: int = target) -> int | None:
            with pipeline.sessions() as session:
                done = session.execute(
                    select(func.count()).where(Post.id.between(*span), Post.state == "done")
                ).scalar_one()
            return done if done >= target else None

        done = wait_until(reached, 60 + STEP, f"{target} posts done", interval=0.2)
        process = psutil.Process(worker.pid)
        samples.append(
            {"posts": done, "rss_mb": _rss_mb(worker.pid), "threads": process.num_threads()}
        )
    sending.join()
    assert not psutil.Process(worker.pid).children(), "the worker is not one process"
    return samples


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 2)
    raise RuntimeError(f"no VmRSS for {pid}")


def _slope_kib_per_1000(samples: list[dict[str, Any]]) -> float:
    """Least-squares growth of the worker's RSS, KiB per 1,000 posts."""
    if len(samples) < 2:
        return 0.0
    xs = [s["posts"] / 1000 for s in samples]
    ys = [s["rss_mb"] * 1024 for s in samples]
    return statistics.linear_regression(xs, ys).slope
