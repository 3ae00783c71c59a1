"""A burst at a realistic provider latency: N posts due at one instant ``T``, every call
answered in 300 ms, publisher against a bare Celery task.

Publisher runs as deployed: ``publisher worker`` with no flags (the threads pool, the
default concurrency), the control worker and beat. The posts are approved in one
statement for ``T``, ``LEAD`` s ahead, so the sweep's look-ahead enqueues them with a
countdown as it would at 09:00:00. The bare task's messages are sent with ``eta=T`` on
the same Redis to a bare worker started the same way (threads, same concurrency), so
both sides hold their messages before ``T``. Both are timed the same way, at the
receiving end: the sandbox's create of each post (recorded when the call arrives) minus
``T``; publisher's claims (``first_started_at - T``) say when the last post *started*.
Rounds alternate (bare, publisher, ...), each judged.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench import bare_app, seed
from bench.cpu import CpuMeter
from bench.report import Report, percentile
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
from publisher.core.models import Post, utcnow
from tests.support.pipeline import Pipeline

LEAD = 14.0  # s from approval to T: a sweep (every 10 s, horizon 15 s) lands before T
BARE_LEAD = 4.0  # s from sending the bare messages to T: all are in the worker by then
LAST_START = Goal("<=", 10.0, " s")  # the last post starts within 10 s of T
RATIO = Goal(">=", 0.8, "x bare")  # posts/s, publisher against bare
DRAIN_TIMEOUT = 180.0  # s after T: a stuck round fails instead of hanging


@dataclass(frozen=True)
class Params:
    posts: int
    latency_ms: int
    concurrency: int | None  # None: the deployed default
    rounds: int  # per side, interleaved
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        return cls(
            posts=args.posts or 1_000,
            latency_ms=300 if args.latency is None else args.latency,
            concurrency=args.concurrency,
            rounds=1 if args.quick else 3,
            dbs=dbs,
        )


def run(stack: Stack, params: Params) -> Report:
    report = Report("burst300", params.__dict__.copy())
    for db in params.dbs:
        pub, bare = _compare(stack, db, params)
        for side, rounds in (("publisher", pub), ("bare", bare)):
            for i, r in enumerate(rounds, 1):
                report.row(
                    db=db, side=side, round=i, **{k: v for k, v in r.items() if k != "cpu_ms"}
                )
                report.table(
                    "CPU ms per post by component", db=db, side=side, round=i, **r["cpu_ms"]
                )
        pub_rates = [r["per_s"] for r in pub]
        bare_rates = [r["per_s"] for r in bare]
        report.extra[f"spread_{db}"] = {
            "publisher_per_s": spread(pub_rates).as_json(),
            "bare_per_s": spread(bare_rates).as_json(),
            "publisher_last_start_s": spread([r["last_start_s"] for r in pub]).as_json(),
        }
        report.judge(
            f"{db}: last of {params.posts:,} posts starts (first_started_at - T)",
            LAST_START,
            [r["last_start_s"] for r in pub],
        )
        report.judge(f"{db}: publisher / bare posts/s", RATIO, ratios(pub_rates, bare_rates))
        once = [r["created_once"] == params.posts and r["duplicates"] == 0 for r in pub]
        report.target(
            f"{db}: every post created exactly once",
            f"{params.posts:,} in every round",
            float(min(r["created_once"] for r in pub)),
            all(once),
        )
    return report


def _compare(
    stack: Stack, db: str, params: Params
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pipeline = stack.pipeline(db, f"burst300_{db}")
    try:
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        pipeline.start_worker("worker", params.concurrency)
        pipeline.start_beat()
        start_bare_worker(pipeline, "bare", params.concurrency)
        for name in ("worker", "control", "bare"):
            wait_ready(stack, pipeline, name)
        pub: list[dict[str, Any]] = []
        bare: list[dict[str, Any]] = []
        with provider_latency(stack.sandbox, params.latency_ms / 1000):
            for _ in range(params.rounds):
                bare.append(_bare_round(stack, pipeline, params.posts))
                pub.append(_publisher_round(stack, pipeline, owner, params.posts))
                print(
                    f"  {db}: publisher {pub[-1]['per_s']:.1f}/s (last start "
                    f"{pub[-1]['last_start_s']:.2f} s), bare {bare[-1]['per_s']:.1f}/s"
                )
        return pub, bare
    finally:
        stack.release(pipeline)


def _publisher_round(
    stack: Stack, pipeline: Pipeline, owner: seed.Owner, count: int
) -> dict[str, Any]:
    engine = engine_of(pipeline)
    ids = seed.bulk_insert(engine, seed.due_rows(owner, [utcnow()] * count, "draft"))
    span = seed.id_range(ids)
    meter = CpuMeter(components(stack, pipeline, "worker"))
    meter.start()
    due = utcnow() + timedelta(seconds=LEAD)
    seed.approve_at(pipeline.sessions, span, due)

    def drained() -> bool:
        with pipeline.sessions() as session:
            done = session.execute(
                select(func.count()).where(Post.id.between(*span), Post.state == "done")
            ).scalar_one()
        return bool(done == count)

    wait_until(drained, LEAD + DRAIN_TIMEOUT, "the burst drained", interval=0.5)
    cpu = meter.stop()
    with pipeline.sessions() as session:
        rows = session.execute(
            select(Post.first_started_at, Post.idempotency_key).where(Post.id.between(*span))
        ).all()
    starts = [(r.first_started_at - due).total_seconds() for r in rows if r.first_started_at]
    keys = {r.idempotency_key for r in rows}
    return _figures(stack, due, keys, count, cpu) | {
        "start_p50_s": percentile(starts, 0.5),
        "start_p99_s": percentile(starts, 0.99),
        "last_start_s": max(starts),
    }


def _bare_round(stack: Stack, pipeline: Pipeline, count: int) -> dict[str, Any]:
    keys = [uuid.uuid4().hex for _ in range(count)]
    url = stack.sandbox.url + "/hooks/bare"
    meter = CpuMeter(components(stack, pipeline, "bare"))
    meter.start()
    due = utcnow() + timedelta(seconds=BARE_LEAD)
    with stack.sender.producer_or_acquire() as producer:
        for key in keys:
            stack.sender.send_task(
                bare_app.TASK,
                (url, f"bare {key}", key),
                queue=bare_app.QUEUE,
                eta=due,
                producer=producer,
            )
    wanted = set(keys)

    def drained() -> bool:
        return sum(1 for c in stack.sandbox.creates if c.idempotency_key in wanted) >= count

    wait_until(drained, BARE_LEAD + DRAIN_TIMEOUT, "the bare burst drained", interval=0.5)
    cpu = meter.stop()
    return _figures(stack, due, {k for k in keys}, count, cpu)


def _figures(
    stack: Stack, due: datetime, keys: set[Any], count: int, cpu: dict[str, float]
) -> dict[str, Any]:
    """Measured at the sandbox: when each post's call arrived, relative to ``T``."""
    arrivals = sorted(
        (c.at - due).total_seconds() for c in stack.sandbox.creates if c.idempotency_key in keys
    )
    per_key: dict[str | None, int] = {}
    for c in stack.sandbox.creates:
        if c.idempotency_key in keys:
            per_key[c.idempotency_key] = per_key.get(c.idempotency_key, 0) + 1
    last = arrivals[-1]
    return {
        "posts": count,
        "first_call_s": arrivals[0],
        "call_p50_s": percentile(arrivals, 0.5),
        "last_call_s": last,
        "per_s": count / last if last > 0 else float("inf"),
        "created_once": sum(1 for n in per_key.values() if n == 1),
        "duplicates": sum(1 for n in per_key.values() if n > 1),
        "cpu_ms": {k: round(v * 1000 / count, 2) for k, v in cpu.items()},
    }
