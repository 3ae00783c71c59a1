"""Throughput: posts per second end to end, publisher against a bare Celery task.

Both sides start from queued messages on the same Redis, consumed by the same prefork
pool (same ``--concurrency``, same Celery settings), and make the same HTTP call to the
sandbox's webhook endpoint. The publisher also claims the row, validates, decrypts the
token, writes the call log before the call and records the result; the bare task does
nothing but the call. The clock runs from the first message sent to the last post done
(``published_at``) or the last create the sandbox recorded. Rounds alternate between
the two sides so drift in the machine's state hits both.
"""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

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
from publisher.core.models import Post
from publisher.ops.constants import QUEUE
from tests.support.pipeline import Pipeline

TARGET = 0.8  # publisher posts/s at least this share of the bare task's
TIMEOUT_PER_POST = 0.5  # s: a generous ceiling so a stuck run fails instead of hanging


@dataclass(frozen=True)
class Params:
    posts: int  # per round at 0 ms latency; fewer at higher latencies (see ``count``)
    concurrency: int
    repeats: int
    latencies_ms: tuple[int, ...]
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, quick: bool, dbs: tuple[str, ...], posts: int | None, concurrency: int) -> Params:
        return cls(
            posts=posts or (400 if quick else 1_000),
            concurrency=concurrency,
            repeats=1 if quick else 2,
            latencies_ms=(0,) if quick else (0, 50, 200),
            dbs=dbs,
        )

    def count(self, latency_ms: int) -> int:
        """Posts per round: fewer when each call is slow, so a round lasts ~10-20 s."""
        if latency_ms <= 0:
            return self.posts
        return max(100, min(self.posts, self.posts * 25 // latency_ms))


@dataclass(frozen=True)
class Round:
    rate: float  # posts/s
    cpu_ms: dict[str, float]  # CPU ms per post, by component


def run(stack: Stack, params: Params) -> Report:
    report = Report("throughput", params.__dict__.copy())
    for db in params.dbs:
        for latency, (pub, bare) in _compare(stack, db, params).items():
            ratio = _median(pub) / _median(bare)
            report.row(
                db=db,
                latency_ms=latency,
                posts=params.count(latency),
                publisher_per_s=_median(pub),
                bare_per_s=_median(bare),
                ratio=ratio,
                publisher_cpu_ms=_cpu(pub),
                bare_cpu_ms=_cpu(bare),
                rounds=" ".join(
                    f"{p.rate:.0f}/{b.rate:.0f}" for p, b in zip(pub, bare, strict=True)
                ),
            )
            report.extra.setdefault("cpu_ms_per_post", []).append(
                {
                    "db": db,
                    "latency_ms": latency,
                    "publisher": [r.cpu_ms for r in pub],
                    "bare": [r.cpu_ms for r in bare],
                }
            )
            report.target(
                f"{db}, {latency} ms provider latency",
                f">= {TARGET}x bare",
                ratio,
                ratio >= TARGET,
            )
    return report


def _median(rounds: list[Round]) -> float:
    return statistics.median(r.rate for r in rounds)


def _cpu(rounds: list[Round]) -> float:
    """Total CPU ms per post, all components (median over rounds)."""
    return statistics.median(sum(r.cpu_ms.values()) for r in rounds)


def _meter(stack: Stack, pipeline: Pipeline, worker: str) -> CpuMeter:
    return CpuMeter(components(stack, pipeline, worker))


def _compare(stack: Stack, db: str, params: Params) -> dict[int, tuple[list[Round], list[Round]]]:
    """Both workers on one pipeline; for each latency, alternating rounds of each side."""
    pipeline = stack.pipeline(db, f"throughput_{db}")
    try:
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        pipeline.start_worker("worker", params.concurrency)
        start_bare_worker(pipeline, "bare", params.concurrency)
        wait_ready(stack, pipeline, "worker")
        wait_ready(stack, pipeline, "bare")
        found = {}
        for latency in params.latencies_ms:
            with provider_latency(latency / 1000):
                found[latency] = _rounds(stack, pipeline, owner, params, latency)
        return found
    finally:
        stack.release(pipeline)


def _rounds(
    stack: Stack, pipeline: Pipeline, owner: seed.Owner, params: Params, latency: int
) -> tuple[list[Round], list[Round]]:
    warmup = 4 * params.concurrency
    _publisher_round(stack, pipeline, None, owner, warmup)
    _bare_round(stack, None, warmup)
    count = params.count(latency)
    pub: list[Round] = []
    bare: list[Round] = []
    for _ in range(params.repeats):
        bare.append(_bare_round(stack, _meter(stack, pipeline, "bare"), count))
        pub.append(
            _publisher_round(stack, pipeline, _meter(stack, pipeline, "worker"), owner, count)
        )
        print(
            f"  {pipeline.settings.database_url.split(':')[0]} {latency} ms: "
            f"publisher {pub[-1].rate:.1f}/s, bare {bare[-1].rate:.1f}/s"
        )
    return pub, bare


def _publisher_round(
    stack: Stack, pipeline: Pipeline, meter: CpuMeter | None, owner: seed.Owner, count: int
) -> Round:
    due = datetime.now(UTC) - timedelta(seconds=1)
    ids = seed.bulk_insert(engine_of(pipeline), seed.due_rows(owner, [due] * count))
    span = seed.id_range(ids)
    if meter:
        meter.start()
    started = datetime.now(UTC)
    stack.send("publisher.publish", QUEUE, [(post_id,) for post_id in ids])

    def finished() -> datetime | None:
        with pipeline.sessions() as session:
            done, last = session.execute(
                select(func.count(), func.max(Post.published_at)).where(
                    Post.id.between(*span), Post.state == "done"
                )
            ).one()
        return last if done == count else None

    last = wait_until(finished, 30 + count * TIMEOUT_PER_POST, "publisher posts done")
    return _result(meter, count, (last - started).total_seconds())


def _result(meter: CpuMeter | None, count: int, seconds: float) -> Round:
    spent = meter.stop() if meter else {}
    return Round(count / seconds, {k: round(v * 1000 / count, 3) for k, v in spent.items()})


def _bare_round(stack: Stack, meter: CpuMeter | None, count: int) -> Round:
    keys = [uuid.uuid4().hex for _ in range(count)]
    wanted = set(keys)
    url = stack.sandbox.url + "/hooks/bare"
    if meter:
        meter.start()
    started = datetime.now(UTC)
    stack.send(bare_app.TASK, bare_app.QUEUE, [(url, f"bare {k}", k) for k in keys])

    def finished() -> datetime | None:
        times = [c.at for c in stack.sandbox.creates if c.idempotency_key in wanted]
        return max(times) if len(times) == count else None

    last = wait_until(finished, 30 + count * TIMEOUT_PER_POST, "bare creates")
    return _result(meter, count, (last - started).total_seconds())
