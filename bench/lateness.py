"""Lateness: how long after its scheduled time a post's first attempt starts.

A steady stream (50 posts/s by default) of posts scheduled at precise, distinct future
times is approved the way the web process approves them: ``service.approve`` and then
the announcer (``announce.announcer``), which enqueues a post due within the lookahead at
once, with a countdown. Batches are approved 5 to 14 s ahead, so some fall inside the
lookahead (the announcer sends them) and some beyond it (the sweep's look-ahead sends
them). The same stream runs against the same pipeline with the lookahead switched off
(``PUBLISHER_LOOKAHEAD=0``): the plain sweep every 10 s. A third run at a light rate
(20 posts/s) separates the scheduling precision from the machine's capacity. Lateness
is ``first_started_at - scheduled_at`` (the claim) and the sandbox's create time minus
``scheduled_at`` (the call landing).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bench import seed
from bench.cpu import CpuMeter
from bench.report import Report, percentile
from bench.stack import Stack, components, engine_of, wait_ready
from publisher.core import service
from publisher.core.models import Post, utcnow
from publisher.engine import announce
from publisher.ops import tasks
from publisher.ops.celery_app import app as publisher_app
from tests.support.pipeline import Pipeline

LEADS = (5, 9, 12, 7, 14, 6, 10, 13, 8, 11)  # s ahead a batch is approved, cycled
P99_TARGET = 0.5  # s
IMPROVEMENT_TARGET = 10.0  # plain-sweep p99 / lookahead p99
SOON_POSTS = 5  # posts approved 1 s before they are due, one every SOON_GAP s
SOON_GAP = 1.5
LOOKAHEAD_OFF = {"PUBLISHER_LOOKAHEAD": "0"}
LIGHT_RATE = 20  # posts/s well inside a 2-vCPU box's capacity: scheduling precision alone


@dataclass(frozen=True)
class Params:
    rate: int
    seconds: int
    concurrency: int
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, quick: bool, dbs: tuple[str, ...], posts: int | None, concurrency: int) -> Params:
        seconds = 10 if quick else 20
        rate = posts // seconds if posts else 50
        return cls(rate=rate, seconds=seconds, concurrency=concurrency, dbs=dbs)


@dataclass(frozen=True)
class Planned:
    post_id: int
    due: datetime
    lead: float
    group: str  # "stream" or "due in 1 s"


def run(stack: Stack, params: Params) -> Report:
    assert publisher_app.conf.broker_url == stack.redis.url, (
        "publisher.ops.celery_app imported too early"
    )
    report = Report("lateness", params.__dict__.copy())
    runs = [
        ("lookahead", {}, params.rate),
        ("sweep only", LOOKAHEAD_OFF, params.rate),
        ("lookahead", {}, min(LIGHT_RATE, params.rate)),
    ]
    for db in params.dbs:
        p99s: dict[str, float] = {}
        soon: dict[str, float] = {}
        for mode, env, rate in runs:
            figures = _run_mode(stack, db, mode, env, rate, params)
            for row in figures["rows"]:
                report.row(db=db, mode=mode, rate=rate, **row)
            label = f"{mode} {rate}/s"
            report.extra[f"{db} {label}"] = figures["extra"]
            p99s[label] = figures["p99"]
            soon[label] = figures["soon_max"]
        on = p99s[f"lookahead {params.rate}/s"]
        off = p99s[f"sweep only {params.rate}/s"]
        light = p99s[f"lookahead {min(LIGHT_RATE, params.rate)}/s"]
        report.target(
            f"{db}: p99 with lookahead, {params.rate}/s", f"< {P99_TARGET} s", on, on < P99_TARGET
        )
        report.target(
            f"{db}: p99 with lookahead, {min(LIGHT_RATE, params.rate)}/s",
            f"< {P99_TARGET} s",
            light,
            light < P99_TARGET,
        )
        ratio = off / on if on > 0 else float("inf")
        report.target(
            f"{db}: plain sweep p99 / lookahead p99",
            f">= {IMPROVEMENT_TARGET:g}x",
            ratio,
            ratio >= IMPROVEMENT_TARGET,
        )
        report.target(
            f"{db}: due in 1 s, default interval (max of {SOON_POSTS})",
            f"< {P99_TARGET} s late",
            soon[f"lookahead {params.rate}/s"],
            soon[f"lookahead {params.rate}/s"] < P99_TARGET,
            note=f"sweep only: {soon[f'sweep only {params.rate}/s']:.2f} s",
        )
    return report


def _run_mode(
    stack: Stack, db: str, mode: str, env: dict[str, str], rate: int, params: Params
) -> dict[str, Any]:
    pipeline = stack.pipeline(db, f"lateness_{db}_{mode.replace(' ', '_')}_{rate}", **env)
    try:
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        total = rate * params.seconds
        ids = seed.bulk_insert(
            engine_of(pipeline),
            seed.due_rows(owner, [utcnow()] * (total + SOON_POSTS), state="draft"),
        )
        pipeline.start_worker("worker", params.concurrency)
        pipeline.start_beat()
        wait_ready(stack, pipeline, "worker")
        meter = CpuMeter(components(stack, pipeline, "worker"))
        meter.start()
        plan = _stream(pipeline, ids[:total], rate, params.seconds)
        pipeline.wait_final(ids[:total], timeout=params.seconds + 120)
        plan += _due_soon(pipeline, ids[total:])
        posts = pipeline.wait_final(ids, timeout=params.seconds + 120)
        cpu = meter.stop()
        return _figures(stack, pipeline, plan, posts, cpu)
    finally:
        stack.release(pipeline)


def _stream(pipeline: Pipeline, ids: list[int], rate: int, seconds: int) -> list[Planned]:
    """Approve and announce ``ids`` in one-second batches, each ``lead`` s ahead."""
    on_approved = announce.announcer(pipeline.settings, tasks.enqueue)
    first = utcnow() + timedelta(seconds=max(LEADS) + 1)
    batches: list[tuple[datetime, list[Planned]]] = []
    for second in range(seconds):
        lead = LEADS[second % len(LEADS)]
        chunk = ids[second * rate : (second + 1) * rate]
        planned = [
            Planned(post_id, first + timedelta(seconds=second + i / rate), lead, "stream")
            for i, post_id in enumerate(chunk)
        ]
        batches.append((first + timedelta(seconds=second - lead), planned))
    batches.sort(key=lambda batch: batch[0])
    for approve_at, planned in batches:
        _sleep_until(approve_at)
        _approve(pipeline, planned, on_approved)
    return [p for _, planned in batches for p in planned]


def _due_soon(pipeline: Pipeline, ids: list[int]) -> list[Planned]:
    """Posts approved one second before they are due, one at a time."""
    on_approved = announce.announcer(pipeline.settings, tasks.enqueue)
    planned = []
    for post_id in ids:
        one = Planned(post_id, utcnow() + timedelta(seconds=1), 1.0, "due in 1 s")
        _approve(pipeline, [one], on_approved)
        planned.append(one)
        time.sleep(SOON_GAP)
    return planned


def _approve(pipeline: Pipeline, planned: list[Planned], on_approved: Any) -> None:
    now = utcnow()
    with pipeline.sessions.begin() as session:
        for p in planned:
            service.approve(session, p.post_id, now, scheduled_at=p.due)
    for p in planned:
        on_approved(p.post_id, p.due)


def _sleep_until(when: datetime) -> None:
    delay = (when - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def _figures(
    stack: Stack,
    pipeline: Pipeline,
    plan: list[Planned],
    posts: dict[int, Post],
    cpu: dict[str, float],
) -> dict[str, Any]:
    created = {c.idempotency_key: c.at for c in stack.sandbox.creates}
    with pipeline.sessions() as session:
        keys = dict(session.execute(select(Post.id, Post.idempotency_key)).tuples().all())
    lookahead = pipeline.settings.lookahead
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    states: dict[str, int] = defaultdict(int)
    for p in plan:
        post = posts[p.post_id]
        states[post.state] += 1
        assert post.first_started_at is not None and post.scheduled_at is not None
        start = (post.first_started_at - post.scheduled_at).total_seconds()
        call = (created[keys[p.post_id]] - post.scheduled_at).total_seconds()
        if p.group == "stream":
            groups["all"].append((start, call))
            path = "announced" if p.lead <= lookahead else "swept"
            groups[f"{path} (lead {'<=' if path == 'announced' else '>'} {lookahead:g} s)"].append(
                (start, call)
            )
        else:
            groups[p.group].append((start, call))
    rows = [_row(name, values) for name, values in groups.items()]
    return {
        "rows": rows,
        "p99": rows[0]["start_p99"],
        "soon_max": max(s for s, _ in groups["due in 1 s"]),
        "extra": {"states": dict(states), "cpu_seconds": cpu, "lookahead": lookahead},
    }


def _row(name: str, values: list[tuple[float, float]]) -> dict[str, Any]:
    starts = [s for s, _ in values]
    calls = [c for _, c in values]
    return {
        "posts": name,
        "n": len(values),
        "start_p50": percentile(starts, 0.5),
        "start_p95": percentile(starts, 0.95),
        "start_p99": percentile(starts, 0.99),
        "start_max": max(starts),
        "start_min": min(starts),
        "call_p50": percentile(calls, 0.5),
        "call_p99": percentile(calls, 0.99),
    }
