"""Database cost of one successful publish: statements, transactions and time, counted.

``worker.process`` runs in this process over N approved posts (webhook credential, the
sandbox answering), with SQLAlchemy event listeners on the engine counting every cursor
execution (by verb) and every transaction, and timing the executions. The same HTTP call
made with a bare ``requests.Session`` gives the floor a publish cannot go below. The
sandbox runs in its own process here, so it does not compete with the measured code.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import event, func, select

from bench import seed
from bench.report import Report
from bench.stack import Stack, engine_of, sandbox_process
from publisher.core import service
from publisher.core.models import ApiCall
from publisher.core.tokens import token_box
from publisher.engine import exchange, worker
from publisher.engine.dependencies import Dependencies

WARMUP = 20  # posts run before counting: compiled-statement caches and pools filled
PROFILED = 100  # posts run under cProfile to see which code the time goes to


@dataclass(frozen=True)
class Params:
    posts: int
    dbs: tuple[str, ...]

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        quick, posts = args.quick, args.posts
        return cls(posts=posts or (100 if quick else 500), dbs=dbs)


@dataclass
class Meter:
    """Counts and times what the engine sends to the database."""

    statements: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    text_seconds: Counter[str] = field(default_factory=Counter)
    begins: int = 0
    commits: int = 0
    rollbacks: int = 0
    checkouts: int = 0
    execute_seconds: float = 0.0
    _started: float = 0.0
    _shape: str = ""

    def attach(self, engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        event.listen(engine.pool, "checkout", self._checkout)

    def detach(self, engine: Any) -> None:
        event.remove(engine, "before_cursor_execute", self._before)
        event.remove(engine, "after_cursor_execute", self._after)
        event.remove(engine, "begin", self._begin)
        event.remove(engine, "commit", self._commit)
        event.remove(engine, "rollback", self._rollback)
        event.remove(engine.pool, "checkout", self._checkout)

    def reset(self) -> None:
        self.statements.clear()
        self.texts.clear()
        self.text_seconds.clear()
        self.begins = self.commits = self.rollbacks = self.checkouts = 0
        self.execute_seconds = 0.0

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements[statement.split(None, 1)[0].upper()] += 1
        self._shape = _shape(statement)
        self.texts[self._shape] += 1
        self._started = time.perf_counter()

    def _after(self, *_args: Any) -> None:
        spent = time.perf_counter() - self._started
        self.execute_seconds += spent
        self.text_seconds[self._shape] += spent

    def _begin(self, _conn: Any) -> None:
        self.begins += 1

    def _commit(self, _conn: Any) -> None:
        self.commits += 1

    def _rollback(self, _conn: Any) -> None:
        self.rollbacks += 1

    def _checkout(self, *_args: Any) -> None:
        self.checkouts += 1


def _shape(statement: str) -> str:
    """A statement's first 90 characters, placeholders and whitespace normalised."""
    flat = re.sub(r"\s+", " ", statement).strip()
    flat = re.sub(r"%\(\w+\)s|\?|\$\d+", "?", flat)
    return flat[:90]


def run(stack: Stack, params: Params) -> Report:
    report = Report("dbcost", params.__dict__.copy())
    with sandbox_process(stack.workdir) as url:
        floor = _bare_http_ms(url, params.posts)
        for db in params.dbs:
            figures, shapes = _measure(stack, url, db, params.posts)
            report.row(db=db, **figures, bare_http_ms=floor)
            report.extra[f"statements_{db}"] = shapes
    return report


def _measure(stack: Stack, url: str, db: str, count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    pipeline = stack.pipeline(db, f"dbcost_{db}")
    account = pipeline.account()
    with pipeline.sessions.begin() as session:
        credential = service.add_credential(
            session, pipeline.box, account, "webhook", url + "/hooks/dbcost", "tok-valid"
        )
        owner = seed.Owner(account, credential.id)
    engine = engine_of(pipeline)
    due = datetime.now(UTC) - timedelta(seconds=1)
    ids = seed.bulk_insert(engine, seed.due_rows(owner, [due] * (WARMUP + count + PROFILED)))
    ids, ids_for_profile = ids[: WARMUP + count], ids[WARMUP + count :]
    settings = pipeline.settings
    deps = Dependencies(
        settings, pipeline.sessions, token_box(settings), exchange.new_session(), _no_enqueue
    )
    meter = Meter()
    meter.attach(engine)
    for post_id in ids[:WARMUP]:
        worker.process(post_id, deps)
    meter.reset()
    started = time.perf_counter()
    results = Counter(worker.process(post_id, deps).value for post_id in ids[WARMUP:])
    elapsed = time.perf_counter() - started
    meter.detach(engine)
    assert results == {"done": count}, results
    with pipeline.sessions() as session:
        http_ms = session.execute(
            select(func.avg(ApiCall.duration_ms)).where(ApiCall.post_id.in_(ids[WARMUP:]))
        ).scalar_one()
    per = 1 / count
    figures = {
        "statements": sum(meter.statements.values()) * per,
        "select": meter.statements["SELECT"] * per,
        "insert": meter.statements["INSERT"] * per,
        "update": meter.statements["UPDATE"] * per,
        "transactions": meter.commits * per,
        "rollbacks": meter.rollbacks * per,
        "checkouts": meter.checkouts * per,
        "execute_ms": meter.execute_seconds * 1000 * per,
        "http_ms": float(http_ms),
        "total_ms": elapsed * 1000 * per,
    }
    figures["profile_share"] = _profile(deps, ids_for_profile)
    shapes = {
        text: {"per_post": n * per, "ms": round(meter.text_seconds[text] * 1000 / n, 3)}
        for text, n in meter.texts.most_common()
    }
    return figures, shapes


def _profile(deps: Dependencies, ids: list[int]) -> dict[str, float]:
    """Share of the main thread's time by package (cProfile's own time, so the shares hold
    even though profiling slows everything down)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for post_id in ids:
        worker.process(post_id, deps)
    profiler.disable()
    spent: Counter[str] = Counter()
    for (path, _line, name), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        spent[_package(path, name)] += row[2]
    total = sum(spent.values())
    return {k: round(v / total, 3) for k, v in spent.most_common(8)}


def _package(path: str, name: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/publisher/" in path:
        return "publisher"
    if path == "~":  # a C function: name the wait it stands for
        return "socket I/O" if "socket" in name else "builtins"
    return "stdlib"


def _no_enqueue(_post_id: int, _countdown: float) -> None:
    """A successful publish enqueues nothing; a retry would, and is not counted here."""


def _bare_http_ms(base_url: str, count: int) -> float:
    """The same POST with a pooled session and nothing else: the floor per publish."""
    http = requests.Session()
    url = base_url + "/hooks/floor"
    for i in range(WARMUP):
        http.post(url, json={"text": f"warm {i}"}, timeout=(5, 30))
    started = time.perf_counter()
    for i in range(count):
        key = f"floor-{i}"
        body = {"idempotency_key": key, "options": {}, "text": f"floor {i}"}
        http.post(url, json=body, headers={"Idempotency-Key": key}, timeout=(5, 30)).json()
    return (time.perf_counter() - started) * 1000 / count
