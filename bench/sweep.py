"""Sweep cost: one sweep with 1,000 due posts beside a million finished ones vs. beside none.

``publisher.sweep.run`` runs in this process with a ``Dependencies`` whose enqueue only counts,
so the figure is the sweep's own database work (rescue, select-and-mark batches,
heartbeat). Each measurement resets ``enqueued_at`` and sweeps again; the median of the
repeats is reported. Finished posts are bulk-loaded (``COPY`` / ``executemany``), and the
due query's plan is captured from the statement the sweep really sent: SQLite's
``EXPLAIN QUERY PLAN``; PostgreSQL's ``EXPLAIN ANALYZE`` with the values bound (the custom
plan) and for the prepared statement (the generic plan psycopg switches to after five
executions on a connection).
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from bench import seed
from bench.report import Report
from bench.stack import Stack, engine_of
from publisher.core.models import utcnow
from publisher.core.tokens import token_box
from publisher.engine import exchange, sweep
from publisher.engine.dependencies import Dependencies
from tests.support.pipeline import Pipeline

TARGET = 1.5  # a sweep beside a million finished posts costs at most this many times more
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
    def of(cls, quick: bool, dbs: tuple[str, ...], posts: int | None, concurrency: int) -> Params:
        finished = posts or (200_000 if quick else 1_000_000)
        return cls(due=1_000, finished=finished, repeats=5, dbs=dbs)


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
        pipeline = stack.pipeline(db, f"sweep_{db}")
        account = pipeline.account()
        owner = seed.Owner(account, pipeline.credential(account, "webhook"))
        engine = engine_of(pipeline)
        due = utcnow() - timedelta(minutes=1)
        seed.bulk_insert(
            engine,
            seed.due_rows(owner, [due + timedelta(milliseconds=i) for i in range(params.due)]),
        )
        query = DueQuery()
        query.attach(engine)
        deps, sent = _dependencies(pipeline)
        empty = _measure(deps, sent, query, params)
        plans = {"beside none": _explain(engine, query)}
        started = time.perf_counter()
        seed.bulk_insert(engine, seed.done_rows(owner, params.finished))
        load = time.perf_counter() - started
        _settle(engine)
        full = _measure(deps, sent, query, params)
        plans[f"beside {params.finished:,} done"] = _explain(engine, query)
        report.extra[f"plans_{db}"] = plans
        report.extra[f"due_query_{db}"] = query.statement
        for label, figures in (("none", empty), (f"{params.finished:,}", full)):
            report.row(db=db, finished_posts=label, **figures)
        ratio = full["sweep_ms"] / empty["sweep_ms"]
        report.rows[-1]["ratio"] = ratio
        report.rows[-1]["load_s"] = round(load, 1)
        report.target(
            f"{db}: sweep beside {params.finished:,} done", f"<= {TARGET}x", ratio, ratio <= TARGET
        )
        drift = _eta_drift(stack, db, params.due)
        report.extra[f"eta_drift_{db}"] = drift
        report.rows[-1]["eta_drift_max_ms"] = drift["max_ms"]
        for label, figures in _backlog(stack, db).items():
            report.extra.setdefault("backlog", []).append({"db": db, "stats": label} | figures)
    return report


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
    """How much later than ``next_run_at`` the messages of one sweep are due to start.

    Posts due 5 s ahead are swept with the real Celery enqueue; each message's start is
    the moment it was sent plus the countdown it carries, and its drift is that start
    minus the post's ``next_run_at``. The countdown is computed from the sweep's start, so
    the drift grows with the time spent before each send.
    """
    from publisher.ops import tasks

    pipeline = stack.pipeline(db, f"sweep_eta_{db}")
    account = pipeline.account()
    owner = seed.Owner(account, pipeline.credential(account, "webhook"))
    due = utcnow() + timedelta(seconds=5)
    ids = seed.bulk_insert(engine_of(pipeline), seed.due_rows(owner, [due] * count))
    starts: dict[int, float] = {}

    def enqueue(post_id: int, countdown: float) -> None:
        sent = utcnow()
        tasks.enqueue(post_id, countdown)
        starts[post_id] = (sent - due).total_seconds() + countdown

    settings = pipeline.settings
    deps = Dependencies(
        settings, pipeline.sessions, token_box(settings), exchange.new_session(), enqueue
    )
    try:
        sweep.run(deps)
    finally:
        stack.flush_redis()
    drifts = sorted(starts[post_id] * 1000 for post_id in ids)
    return {
        "posts": len(drifts),
        "first_ms": drifts[0],
        "median_ms": statistics.median(drifts),
        "max_ms": drifts[-1],
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


def _measure(
    deps: Dependencies, sent: list[int], query: DueQuery, params: Params
) -> dict[str, float]:
    """Median over ``repeats`` sweeps (after one warm-up) of a sweep enqueueing every due post."""
    totals: list[float] = []
    for attempt in range(params.repeats + 1):
        _unmark(deps.sessions.kw["bind"])
        sent.clear()
        query.seconds.clear()
        started = time.perf_counter()
        report = sweep.run(deps)
        elapsed = time.perf_counter() - started
        assert report.enqueued == params.due == len(sent), (report, len(sent))
        if attempt:
            totals.append(elapsed)
            due_ms = sum(query.seconds) * 1000
    return {
        "sweep_ms": statistics.median(totals) * 1000,
        "sweep_min_ms": min(totals) * 1000,
        "due_query_ms": due_ms,
        "due_queries": len(query.seconds),
    }


def _settle(engine: Engine) -> None:
    """Bring the freshly loaded table to the steady state production would measure: on
    PostgreSQL, what autovacuum does after a million inserts (VACUUM ANALYZE) and a
    checkpoint, so the sweep does not pay for hint bits and dirty buffers of the load; on
    SQLite, a WAL checkpoint (publisher never runs ANALYZE there, so neither does this)."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("VACUUM (ANALYZE) posts")
            connection.exec_driver_sql("CHECKPOINT")
        else:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


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
