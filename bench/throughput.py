"""Throughput and CPU per publish: publisher against a bare Celery task.

Both sides start from queued messages on the same Redis, consumed by a worker started the
same way (``worker_command``: the threads pool, the deployed concurrency, prefetch 1),
and make the same HTTP call (bearer token, same JSON) to the sandbox's webhook endpoint.
The publisher also claims the row, validates, decrypts the token, writes the call log
before the call and records the result; the bare task does nothing but the call. The
clock runs from the first message sent to the last create the sandbox recorded, for both
sides alike. Rounds alternate (bare, publisher, bare, publisher...), and the ratio is
judged on every round pair. CPU is metered per component over each round: the worker
process with its threads, PostgreSQL, Redis, and this process (driver and sandbox).
"""

from __future__ import annotations

import argparse
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bench import bare_app, seed
from bench.cpu import CpuMeter
from bench.report import Report
from bench.stack import (
    Stack,
    components,
    engine_of,
    provider_latency,
    start_bare_worker,
    wait_ready,
    wait_until,
)
from bench.verdict import Goal, ratios, spread
from publisher.core.models import Post
from publisher.ops.constants import QUEUE
from tests.support.pipeline import Pipeline

GOAL = Goal(">=", 0.6, "x bare")  # at an instant provider (issue 11, goal 3)
TIMEOUT_PER_POST = 0.5  # s: a generous ceiling so a stuck run fails instead of hanging


@dataclass(frozen=True)
class Params:
    posts: int  # per round
    concurrency: int | None  # None: the deployed default (PUBLISHER_WORKER_CONCURRENCY)
    rounds: int  # per side, interleaved
    latency_ms: int
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        return cls(
            posts=args.posts or (400 if args.quick else 1_000),
            concurrency=args.concurrency,
            rounds=2 if args.quick else 3,
            latency_ms=args.latency or 0,
            dbs=dbs,
        )


@dataclass(frozen=True)
class Round:
    rate: float  # posts/s
    cpu_ms: dict[str, float]  # CPU ms per post, by component


def run(stack: Stack, params: Params) -> Report:
    report = Report("throughput", params.__dict__.copy())
    for db in params.dbs:
        pub, bare = _compare(stack, db, params)
        pairs = ratios([r.rate for r in pub], [r.rate for r in bare])
        rates = {
            side: spread([r.rate for r in rounds])
            for side, rounds in (("publisher", pub), ("bare", bare))
        }
        report.row(
            db=db,
            latency_ms=params.latency_ms,
            posts=params.posts,
            publisher_min=rates["publisher"].min,
            publisher_median=rates["publisher"].median,
            publisher_max=rates["publisher"].max,
            bare_min=rates["bare"].min,
            bare_median=rates["bare"].median,
            bare_max=rates["bare"].max,
            ratio_per_round=[round(r, 3) for r in pairs],
        )
        for side, rounds in (("publisher", pub), ("bare", bare)):
            report.table(
                "CPU ms per publish by component (median of rounds)",
                db=db,
                side=side,
                **_cpu(rounds),
            )
        report.extra.setdefault("rounds", []).append(
            {"db": db, "publisher": [r.__dict__ for r in pub], "bare": [r.__dict__ for r in bare]}
        )
        report.judge(
            f"{db}, provider {params.latency_ms} ms: publisher / bare posts/s", GOAL, pairs
        )
    return report


def _cpu(rounds: list[Round]) -> dict[str, float]:
    """Median CPU ms per post of each component, and of their total."""
    names = sorted({name for r in rounds for name in r.cpu_ms})
    found = {name: statistics.median(r.cpu_ms.get(name, 0.0) for r in rounds) for name in names}
    found["total"] = statistics.median(sum(r.cpu_ms.values()) for r in rounds)
    return found


def _compare(stack: Stack, db: str, params: Params) -> tuple[list[Round], list[Round]]:
    """Both workers on one pipeline, alternating rounds (bare first)."""
    pipeline = stack.pipeline(db, f"throughput_{db}")
    try:
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        pipeline.start_worker("worker", params.concurrency)
        start_bare_worker(pipeline, "bare", params.concurrency)
        wait_ready(stack, pipeline, "worker")
        wait_ready(stack, pipeline, "bare")
        with provider_latency(stack.sandbox, params.latency_ms / 1000):
            warmup = 64
            _publisher_round(stack, pipeline, None, owner, warmup)
            _bare_round(stack, None, warmup)
            pub: list[Round] = []
            bare: list[Round] = []
            for _ in range(params.rounds):
                bare.append(_bare_round(stack, _meter(stack, pipeline, "bare"), params.posts))
                pub.append(
                    _publisher_round(
                        stack, pipeline, _meter(stack, pipeline, "worker"), owner, params.posts
                    )
                )
                print(f"  {db}: publisher {pub[-1].rate:.1f}/s, bare {bare[-1].rate:.1f}/s")
        return pub, bare
    finally:
        stack.release(pipeline)


def _meter(stack: Stack, pipeline: Pipeline, worker: str) -> CpuMeter:
    return CpuMeter(components(stack, pipeline, worker))


def _publisher_round(
    stack: Stack, pipeline: Pipeline, meter: CpuMeter | None, owner: seed.Owner, count: int
) -> Round:
    due = datetime.now(UTC) - timedelta(seconds=1)
    ids = seed.bulk_insert(engine_of(pipeline), seed.due_rows(owner, [due] * count))
    with pipeline.sessions() as session:
        found = select(Post.idempotency_key).where(Post.id.between(*seed.id_range(ids)))
        keys: set[str | None] = set(session.scalars(found))
    return _timed(stack, meter, count, keys, "publisher.publish", QUEUE, [(i,) for i in ids])


def _bare_round(stack: Stack, meter: CpuMeter | None, count: int) -> Round:
    keys = [uuid.uuid4().hex for _ in range(count)]
    url = stack.sandbox.url + "/hooks/bare"
    messages = [(url, f"bare {k}", k) for k in keys]
    return _timed(stack, meter, count, set(keys), bare_app.TASK, bare_app.QUEUE, messages)


def _timed(
    stack: Stack,
    meter: CpuMeter | None,
    count: int,
    keys: set[str | None],
    task: str,
    queue: str,
    messages: Sequence[tuple[object, ...]],
) -> Round:
    """Send ``messages``; the round ends at the sandbox's last create of ``keys``."""
    if meter:
        meter.start()
    started = datetime.now(UTC)
    stack.send(task, queue, messages)

    def finished() -> datetime | None:
        times = [c.at for c in stack.sandbox.creates if c.idempotency_key in keys]
        return max(times) if len(times) >= count else None

    last = wait_until(finished, 30 + count * TIMEOUT_PER_POST, f"{task} creates")
    spent = meter.stop() if meter else {}
    seconds = (last - started).total_seconds()
    return Round(count / seconds, {k: round(v * 1000 / count, 3) for k, v in spent.items()})
