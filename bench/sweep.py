"""Sweep cost: one sweep with 1,000 due posts beside a million finished ones vs. beside none.

``publisher.sweep.run`` runs in this process with a ``Dependencies`` whose enqueue only counts,
so the figure is the sweep's own database work (rescue, select-and-mark batches,
heartbeat). Two databases side by side hold the same due posts, one beside nothing and
one beside the finished posts (bulk-loaded with ``COPY`` / ``executemany``); both get the
same settling (``_settle``: VACUUM ANALYZE and CHECKPOINT, or a WAL checkpoint), and
sweeps alternate between them (none, full, none, full...), each after resetting
``enqueued_at``, the ratio judged on every pair. The
due query's plan is captured from the statement the sweep really sent: SQLite's
``EXPLAIN QUERY PLAN``; PostgreSQL's ``EXPLAIN ANALYZE`` with the values bound (the custom
plan) and for the prepared statement (the generic plan psycopg switches to after five
executions on a connection).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from bench import seed
from bench.report import Report, percentile
from bench.stack import Stack, engine_of, wait_ready
from bench.verdict import Goal, ratios
from publisher.core.models import utcnow
from publisher.core.tokens import token_box
from publisher.engine import exchange, sweep
from publisher.engine.dependencies import Dependencies
from tests.support.pipeline import Pipeline

GOAL = Goal("<=", 1.5, "x")  # a sweep beside a million finished posts, against none
DRIFT_LEAD = 3.0  # s: the first post of the drift run is due this long after the sweep
DRIFT_SPREAD = 8.0  # s over which its posts are due (inside the sweep's horizon)
DRIFT_POSTS = 200  # 25 posts/s: well inside the worker's capacity, so the drift is the
# countdowns' precision, not a backlog
# The sweep's batch: taken and marked in one statement (UPDATE ... RETURNING), or, on a
# SQLite without RETURNING, a select of the walk and then a mark.
DUE_QUERY = re.compile(
    r"^\s*(UPDATE posts SET enqueued_at=[%?].*\bRETURNING\b|SELECT due\.next_run_at, due\.id\b)",
    re.I | re.S,
)
# A mark on its own (the sweep's, not ours): only without RETURNING, or to unmark a failure.
MARK = re.compile(r"^\s*UPDATE posts SET enqueued_at=[%?](?!.*\bRETURNING\b)", re.I | re.S)
MANY_DUE = 20_000  # a backlog: does a sweep's cost per post stay flat?


@dataclass(frozen=True)
class Params:
    due: int
    finished: int
    repeats: int
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        finished = args.posts or (200_000 if args.quick else 1_000_000)
        return cls(due=1_000, finished=finished, repeats=5 if args.quick else 7, dbs=dbs)


@dataclass
class DueQuery:
    """Captures a statement the sweep sends (the due query unless told otherwise), and
    times its executions."""

    pattern: re.Pattern[str] = DUE_QUERY
    statement: str = ""
    parameters: Any = None
    seconds: list[float] = field(default_factory=list)
    _started: float = 0.0

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _c: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
        if self.pattern.match(statement):
            self.statement, self.parameters = statement, parameters
            self._started = time.perf_counter()

    def _after(self, _c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if self.pattern.match(statement):
            self.seconds.append(time.perf_counter() - self._started)


def run(stack: Stack, params: Params) -> Report:
    report = Report("sweep", params.__dict__.copy())
    for db in params.dbs:
        _cost(stack, db, params, report)
        drift = _eta_drift(stack, db, DRIFT_POSTS)
        report.table("Countdown drift at the receiving end", db=db, **drift)
        for label, figures in _backlog(stack, db).items():
            report.table("One sweep of a backlog", db=db, stats=label, **figures)
    return report


@dataclass
class Side:
    """One database the sweep is timed on: its due posts and what sits beside them."""

    label: str
    deps: Dependencies
    sent: list[int]
    query: DueQuery
    seconds: list[float] = field(default_factory=list)
    due_ms: list[float] = field(default_factory=list)


def _side(stack: Stack, db: str, label: str, finished: int, due_count: int) -> Side:
    """A fresh database with ``due_count`` due posts and ``finished`` done ones, brought
    to the same steady state whatever ``finished`` is (``_settle``)."""
    pipeline = stack.pipeline(db, f"sweep_{db}_{label}")
    account = pipeline.account()
    owner = seed.Owner(account, pipeline.credential(account, "webhook"))
    engine = engine_of(pipeline)
    due = utcnow() - timedelta(minutes=1)
    times = [due + timedelta(milliseconds=i) for i in range(due_count)]
    seed.bulk_insert(engine, seed.due_rows(owner, times))
    if finished:
        seed.bulk_insert(engine, seed.done_rows(owner, finished))
    _settle(engine)
    query = DueQuery()
    query.attach(engine)
    deps, sent = _dependencies(pipeline)
    return Side(label, deps, sent, query)


def _cost(stack: Stack, db: str, params: Params, report: Report) -> None:
    """Sweeps beside none and beside ``finished`` done posts, interleaved (none, full,
    none, full...) after one warm-up sweep each; judged on each pair."""
    started = time.perf_counter()
    sides = [
        _side(stack, db, "none", 0, params.due),
        _side(stack, db, "full", params.finished, params.due),
    ]
    load = time.perf_counter() - started
    for side in sides:
        _sweep_once(side, params.due)  # warm-up: caches, pool, plans
        side.seconds.clear()
        side.due_ms.clear()
    for _ in range(params.repeats):
        for side in sides:
            _sweep_once(side, params.due)
    empty, full = sides
    for side, label in ((empty, "none"), (full, f"{params.finished:,}")):
        ms = [s * 1000 for s in side.seconds]
        report.row(
            db=db,
            finished_posts=label,
            sweep_min_ms=min(ms),
            sweep_median_ms=statistics.median(ms),
            sweep_max_ms=max(ms),
            due_query_ms=statistics.median(side.due_ms),
            due_queries=len(side.query.seconds),
        )
    pairs = ratios(full.seconds, empty.seconds)
    report.rows[-1]["ratio_per_round"] = [round(r, 2) for r in pairs]
    report.rows[-1]["setup_s"] = round(load, 1)
    report.judge(f"{db}: sweep beside {params.finished:,} done / beside none", GOAL, pairs)
    engine = full.deps.sessions.kw["bind"]
    report.extra[f"plans_{db}"] = {
        "beside none": _explain(empty.deps.sessions.kw["bind"], empty.query),
        f"beside {params.finished:,} done": _explain(engine, full.query),
    }
    report.extra[f"due_query_{db}"] = full.query.statement


def _sweep_once(side: Side, due: int) -> None:
    _unmark(side.deps.sessions.kw["bind"])
    side.sent.clear()
    side.query.seconds.clear()
    started = time.perf_counter()
    report = sweep.run(side.deps)
    side.seconds.append(time.perf_counter() - started)
    side.due_ms.append(sum(side.query.seconds) * 1000)
    assert report.enqueued == due == len(side.sent), (report, len(side.sent))


def _backlog(stack: Stack, db: str) -> dict[str, dict[str, float]]:
    """One sweep of ``MANY_DUE`` due posts, right after they were loaded (the planner's
    statistics still describe an empty table, as after a bulk approval) and again after
    ANALYZE: cost per post, and what the due queries and the marks cost."""
    pipeline = stack.pipeline(db, f"sweep_backlog_{db}")
    account = pipeline.account()
    owner = seed.Owner(account, pipeline.credential(account, "webhook"))
    engine = engine_of(pipeline)
    seed.bulk_insert(engine, seed.due_rows(owner, [utcnow() - timedelta(minutes=1)] * MANY_DUE))
    due, mark = DueQuery(), DueQuery(MARK)
    due.attach(engine)
    mark.attach(engine)
    deps, _sent = _dependencies(pipeline)
    full_batches = MANY_DUE // deps.settings.sweep_batch
    found = {}
    for label in ("stale", "analyzed"):
        if label == "analyzed":
            _unmark(engine)
            with engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                autocommit.exec_driver_sql("ANALYZE posts" if db == "postgres" else "ANALYZE")
        due.seconds.clear()
        mark.seconds.clear()
        started = time.perf_counter()
        report = sweep.run(deps)
        elapsed = time.perf_counter() - started
        assert report.enqueued == MANY_DUE, report
        found[label] = {
            "due_posts": MANY_DUE,
            "sweep_ms": round(elapsed * 1000, 1),
            "us_per_post": round(elapsed * 1e6 / MANY_DUE, 1),
            "due_queries": len(due.seconds),
            "due_query_ms": round(sum(due.seconds) * 1000, 1),
            "due_query_first_ms": round(due.seconds[0] * 1000, 2),
            # The backlog shares one instant: each full batch is one statement.
            "due_query_last_full_ms": round(due.seconds[full_batches - 1] * 1000, 2),
            "mark_ms": round(sum(mark.seconds) * 1000, 1),
        }
    return found


def _eta_drift(stack: Stack, db: str, count: int) -> dict[str, float]:
    """How much later than its ``next_run_at`` each swept post started, measured where it
    happens: the post's ``first_started_at``, written by the worker that claimed it.

    ``count`` posts due over ``DRIFT_SPREAD`` s from ``DRIFT_LEAD`` s ahead are swept once
    with the real Celery enqueue (countdowns) and published by the deployed worker, the
    provider answering at once.
    """
    from publisher.ops import tasks

    pipeline = stack.pipeline(db, f"sweep_eta_{db}")
    try:
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        pipeline.start_worker("worker")
        wait_ready(stack, pipeline, "worker")
        first = utcnow() + timedelta(seconds=DRIFT_LEAD)
        step = DRIFT_SPREAD / count
        times = [first + timedelta(seconds=i * step) for i in range(count)]
        ids = seed.bulk_insert(engine_of(pipeline), seed.due_rows(owner, times))
        settings = pipeline.settings
        deps = Dependencies(
            settings, pipeline.sessions, token_box(settings), exchange.new_session(), tasks.enqueue
        )
        swept = sweep.run(deps)
        assert swept.enqueued == count, swept
        posts = pipeline.wait_final(ids, timeout=DRIFT_LEAD + DRIFT_SPREAD + 120)
    finally:
        stack.release(pipeline)
    drifts = []
    for post in posts.values():
        assert post.first_started_at is not None and post.scheduled_at is not None
        drifts.append((post.first_started_at - post.scheduled_at).total_seconds() * 1000)
    return {
        "posts": len(drifts),
        "min_ms": min(drifts),
        "p50_ms": percentile(drifts, 0.5),
        "p99_ms": percentile(drifts, 0.99),
        "max_ms": max(drifts),
    }


def _dependencies(pipeline: Pipeline) -> tuple[Dependencies, list[int]]:
    sent: list[int] = []
    settings = pipeline.settings
    deps = Dependencies(
        settings,
        pipeline.sessions,
        token_box(settings),
        exchange.new_session(),
        lambda post_id, _countdown: sent.append(post_id),
    )
    return deps, sent


def _settle(engine: Engine) -> None:
    """Bring the freshly loaded table to the steady state production would measure: on
    PostgreSQL, what autovacuum does after a million inserts (VACUUM ANALYZE) and a
    checkpoint, so the sweep does not pay for hint bits and dirty buffers of the load; on
    SQLite, a WAL checkpoint (publisher never runs ANALYZE there, so neither does this)."""
    if engine.dialect.name != "postgresql":
        # On the raw driver connection: publisher's engine opens every SQLAlchemy
        # transaction with BEGIN IMMEDIATE, even an AUTOCOMMIT one, and a checkpoint
        # inside a transaction fails ("database table is locked").
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
        return
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("VACUUM (ANALYZE) posts")
        connection.exec_driver_sql("CHECKPOINT")


def _unmark(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE posts SET enqueued_at = NULL WHERE state = 'approved'")


def _explain(engine: Engine, query: DueQuery) -> dict[str, str]:
    """The plan of the sweep's first batch: every due post unmarked, as before a sweep."""
    _unmark(engine)
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + query.statement, tuple(query.parameters)
            ).all()
        return {"query plan": "\n".join(str(row[-1]) for row in rows)}
    return {
        "custom plan (values bound)": _pg_explain(engine, query, generic=False),
        "generic plan (prepared)": _pg_explain(engine, query, generic=True),
    }


def _pg_explain(engine: Engine, query: DueQuery, generic: bool) -> str:
    """EXPLAIN ANALYZE in a rolled-back transaction (the query locks rows FOR UPDATE)."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found.group(1) not in names:
            names.append(found.group(1))
        return f"${names.index(found.group(1)) + 1}"

    with psycopg.connect(url, cursor_factory=psycopg.ClientCursor) as connection:
        cursor = connection.cursor()
        if not generic:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query.statement, query.parameters)
        else:
            numbered = re.sub(r"%\((\w+)\)s", number, query.statement)
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute(f"PREPARE bench_due AS {numbered}")
            marks = ", ".join("%s" for _ in names)
            values = [query.parameters[name] for name in names]
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_due({marks})", values)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        connection.rollback()
    return plan
