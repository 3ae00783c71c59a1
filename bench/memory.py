"""Memory: a worker child's resident set after many posts vs. after the first thousand.

One worker pool (prefork, ``--concurrency`` children, no ``--max-tasks-per-child``)
publishes a steady supply of approved posts; the children's ``VmRSS`` (from
``/proc/<pid>/status``) is sampled after the first 1,000 posts and then every 1,000. The
growth is reported as the ratio of the last sample to the first and as a least-squares
slope (KiB per 1,000 posts), from which the size after 100,000 posts is extrapolated.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psutil
from sqlalchemy import func, select

from bench import seed
from bench.report import Report
from bench.stack import Stack, engine_of, wait_ready, wait_until
from publisher.core.models import Post, utcnow
from publisher.ops.constants import QUEUE
from tests.support.pipeline import Pipeline

BASELINE = 1_000  # posts before the first sample: imports, pools and caches are warm
STEP = 1_000  # posts between samples
TARGET = 1.1  # last sample / first sample, per child
EXTRAPOLATE_TO = 100_000


@dataclass(frozen=True)
class Params:
    posts: int
    concurrency: int
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, quick: bool, dbs: tuple[str, ...], posts: int | None, concurrency: int) -> Params:
        return cls(posts=posts or (3_000 if quick else 6_000), concurrency=concurrency, dbs=dbs)


def run(stack: Stack, params: Params) -> Report:
    report = Report("memory", params.__dict__.copy())
    for db in params.dbs:
        pipeline = stack.pipeline(db, f"memory_{db}")
        try:
            samples = _samples(stack, pipeline, params)
        finally:
            stack.release(pipeline)
        first, last = samples[0], samples[-1]
        ratios = [last["rss_mb"][pid] / first["rss_mb"][pid] for pid in first["rss_mb"]]
        slope = _slope_kib_per_1000(samples)
        mean_first = statistics.mean(first["rss_mb"].values())
        projected = mean_first + slope * (EXTRAPOLATE_TO - first["posts"]) / 1000 / 1024
        report.row(
            db=db,
            posts=last["posts"],
            children=len(first["rss_mb"]),
            rss_first_mb=mean_first,
            rss_last_mb=statistics.mean(last["rss_mb"].values()),
            ratio_max=max(ratios),
            slope_kib_per_1000=slope,
            projected_100k_mb=projected,
            projected_ratio=projected / mean_first,
        )
        report.extra[f"samples_{db}"] = samples
        report.target(
            f"{db}: child RSS after {last['posts']:,} / after {first['posts']:,}",
            f"<= {TARGET}x",
            max(ratios),
            max(ratios) <= TARGET,
        )
        report.target(
            f"{db}: projected to {EXTRAPOLATE_TO:,} posts (linear)",
            f"<= {TARGET}x",
            projected / mean_first,
            projected / mean_first <= TARGET,
        )
    return report


def _samples(stack: Stack, pipeline: Pipeline, params: Params) -> list[dict[str, Any]]:
    account = pipeline.account()
    owner = seed.Owner(account, pipeline.credential(account, "webhook"))
    worker = pipeline.start_worker("worker", params.concurrency)
    wait_ready(stack, pipeline, "worker")
    children = [child.pid for child in psutil.Process(worker.pid).children()]
    due = utcnow() - timedelta(seconds=1)
    ids = seed.bulk_insert(engine_of(pipeline), seed.due_rows(owner, [due] * params.posts))
    span = seed.id_range(ids)
    stack.send("publisher.publish", QUEUE, [(post_id,) for post_id in ids])
    samples = []
    for target in range(BASELINE, params.posts + 1, STEP):

        def reached(target: int = target) -> int | None:
            with pipeline.sessions() as session:
                done = session.execute(
                    select(func.count()).where(Post.id.between(*span), Post.state == "done")
                ).scalar_one()
            return done if done >= target else None

        done = wait_until(reached, 60 + STEP, f"{target} posts done", interval=0.2)
        samples.append({"posts": done, "rss_mb": {pid: _rss_mb(pid) for pid in children}})
    alive = [child.pid for child in psutil.Process(worker.pid).children()]
    assert sorted(alive) == sorted(children), "a pool child was replaced during the run"
    return samples


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 2)
    raise RuntimeError(f"no VmRSS for {pid}")


def _slope_kib_per_1000(samples: list[dict[str, Any]]) -> float:
    """Least-squares growth of the children's mean RSS, KiB per 1,000 posts."""
    if len(samples) < 2:
        return 0.0
    xs = [s["posts"] / 1000 for s in samples]
    ys = [statistics.mean(s["rss_mb"].values()) * 1024 for s in samples]
    return statistics.linear_regression(xs, ys).slope
