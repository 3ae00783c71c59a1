"""Prefetch: a long provider call must not strand prefetched posts behind it.

A publishing worker ``w1`` (threads, ``CONCURRENCY`` of them, so the numbers stay small)
is sent as many posts whose provider call takes ``SLOW_SECONDS`` (the sandbox's scripted
``slow`` fault: stored, then answered late) as it has threads, and right behind them
``INSTANT`` posts answered at once. Once the slow posts are running, which takes every
thread of ``w1``, a second worker ``w2`` starts with all its threads free. No instant
post should then wait for a slow call to end. Measured at the receiving end:
each instant post's ``first_started_at`` minus the moment its message was sent; an
instant post that started later than the first slow call could have ended was
*stranded* (held by a worker whose threads were all busy). Run as deployed (prefetch
multiplier 1) and, for contrast, with ``--prefetch-multiplier 4``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bench import seed
from bench.report import Report, percentile
from bench.stack import Stack, engine_of, wait_ready, wait_until
from bench.verdict import Goal
from publisher.core.models import Post, utcnow
from publisher.ops.constants import QUEUE
from publisher.ops.supervisor import worker_command

CONCURRENCY = 4  # threads per worker: two workers, eight threads
SLOW_SECONDS = 20.0
INSTANT = 300
STRANDED = Goal("==", 0, " posts")
MODES = {"deployed (prefetch 1)": [], "prefetch 4 (contrast)": ["--prefetch-multiplier", "4"]}


@dataclass(frozen=True)
class Params:
    concurrency: int  # threads per worker, and slow posts
    instant: int
    slow_seconds: float
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        instant = args.posts or (150 if args.quick else INSTANT)
        return cls(args.concurrency or CONCURRENCY, instant, SLOW_SECONDS, dbs)


def run(stack: Stack, params: Params) -> Report:
    report = Report("prefetch", params.__dict__.copy())
    stack.sandbox.slow_seconds = params.slow_seconds
    for db in params.dbs:
        stranded = {}
        for mode, flags in MODES.items():
            figures = _run_mode(stack, db, mode, flags, params)
            report.row(db=db, mode=mode, **figures)
            stranded[mode] = float(figures["instant_stranded"])
        deployed, contrast = MODES
        report.judge(
            f"{db}: instant posts stranded behind a slow call, {deployed}",
            STRANDED,
            [stranded[deployed]],
            note=f"{contrast}: {stranded[contrast]:.0f}",
        )
    return report


def _run_mode(stack: Stack, db: str, mode: str, flags: list[str], params: Params) -> dict[str, Any]:
    pipeline = stack.pipeline(db, f"prefetch_{db}_{len(flags)}")
    try:
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        pipeline.spawn("w1", worker_command("w1", params.concurrency) + flags)
        wait_ready(stack, pipeline, "w1")
        due = utcnow() - timedelta(seconds=1)
        engine = engine_of(pipeline)
        slow = seed.bulk_insert(
            engine, seed.due_rows(owner, [due] * params.concurrency, label="slow [[fault:slow]]")
        )
        instant = seed.bulk_insert(engine, seed.due_rows(owner, [due] * params.instant))
        sent = utcnow()
        stack.send("publisher.publish", QUEUE, [(i,) for i in slow + instant])
        span = (slow[0], instant[-1])

        def slow_running() -> bool:
            with pipeline.sessions() as session:
                count = session.execute(
                    select(func.count()).where(Post.id.in_(slow), Post.state == "running")
                ).scalar_one()
            return bool(count == len(slow))

        wait_until(slow_running, 60, f"{mode}: the slow posts running", 0.2)
        pipeline.spawn("w2", worker_command("w2", params.concurrency) + flags)
        wait_ready(stack, pipeline, "w2")
        free_at = (utcnow() - sent).total_seconds()  # from here a thread is free in w2

        def done() -> bool:
            with pipeline.sessions() as session:
                count = session.execute(
                    select(func.count()).where(Post.id.between(*span), Post.state == "done")
                ).scalar_one()
            return bool(count == len(slow) + len(instant))

        wait_until(done, params.slow_seconds * 4 + 120, f"{mode}: every post done", 0.5)
        with pipeline.sessions() as session:
            rows = session.execute(
                select(Post.id, Post.first_started_at, Post.published_at).where(
                    Post.id.between(*span)
                )
            ).all()
    finally:
        stack.release(pipeline)
    slow_ids = set(slow)
    waits = [(r.first_started_at - sent).total_seconds() for r in rows if r.id not in slow_ids]
    slow_end = min(r.published_at for r in rows if r.id in slow_ids)
    # The earliest a slow call could end: its claim plus the provider's delay.
    first_slow_end = min(
        (r.first_started_at - sent).total_seconds() + params.slow_seconds
        for r in rows
        if r.id in slow_ids
    )
    return {
        "slow": len(slow),
        "instant": len(waits),
        "threads": 2 * params.concurrency,
        "w2_ready_s": free_at,
        "instant_wait_p50_s": percentile(waits, 0.5),
        "instant_wait_p99_s": percentile(waits, 0.99),
        "instant_wait_max_s": max(waits),
        "first_slow_done_s": (slow_end - sent).total_seconds(),
        "instant_stranded": sum(1 for w in waits if w >= first_slow_end),
    }
