"""The dashboard's queries (issue 14) beside a million finished posts.

``--posts`` finished posts (default 1,000,000) spread over the past year on four
credentials of four networks are bulk-loaded, each with one provider call (its category,
provider and duration varying by id) and two history events (start, succeed), plus a
``defer`` for one post in twenty; scheduled 0-16 s before their publish. Each query of
``publisher.core.dashboard`` then runs ``rounds`` times on a warm connection: health,
the four charts over the last hour (minute buckets), the last day (minute buckets) and
the last week (hour buckets), a filtered count, the first and a deep page, text searches
(rare, absent, common, counted, shorter than a trigram), a post's timeline, the
credentials pages (the list, the x credential's, the account's), and the bulk walk of
every id of one network (once); then every dashboard page, a full HTTP GET through the
app (``bench.dashboard_pages``). The p95 of each is judged against issue 14's aim for a
page: 300 ms.

``--seed DIR`` keeps the seeded databases in DIR and reuses them on the next run, after
migrating them to head (timed: a new migration meets a million posts), without loading
again (``bench.kept_seed``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench import dashboard_pages, kept_seed, seed
from bench.report import Report, percentile
from bench.stack import Stack
from publisher.core import db
from publisher.core.dashboard import charts, credential_health, health, post_search, timeline
from publisher.core.dashboard.post_search import PostFilter
from publisher.core.dashboard.window import Window
from publisher.core.models import Account, Credential, Post, utcnow

AIM_MS = 300.0  # issue 14: a dashboard page renders in under 300 ms (p95)
PROVIDERS = ("mastodon", "x", "bluesky", "linkedin")
SCHEDULED_AT = seed.COLUMNS.index("scheduled_at")
LATE_SPREAD = 17  # seconds: a post is published 0-16 s after its time
HISTORY = (
    # one call per post at its publish: category and duration vary by id, as in life
    "INSERT INTO api_calls (post_id, attempt, provider, method, url, request_headers, "
    "response_headers, category, duration_ms, started_at, finished_at) "
    "SELECT p.id, 1, c.provider, 'POST', 'http://bench/api', '{}', '{}', "
    "CASE WHEN p.id % 20 = 1 THEN 'unavailable' WHEN p.id % 100 = 2 THEN 'forbidden' "
    "WHEN p.id % 500 = 3 THEN 'unauthorized' WHEN p.id % 1000 = 4 THEN 'unclassified' "
    "ELSE 'success' END, 50 + p.id % 997, p.published_at, p.published_at "
    "FROM posts p JOIN credentials c ON c.id = p.credential_id ORDER BY p.published_at",
    "INSERT INTO post_events (post_id, from_state, to_state, trigger, actor, at) "
    "SELECT post_id, from_state, to_state, trigger, 'engine', at FROM ("
    "SELECT id AS post_id, 'approved' AS from_state, 'running' AS to_state, "
    "'start' AS trigger, published_at AS at, 0 AS step FROM posts "
    "UNION ALL SELECT id, 'running', 'retry', 'defer', published_at, 1 FROM posts "
    "WHERE id % 20 = 1 "
    "UNION ALL SELECT id, 'running', 'done', 'succeed', published_at, 2 FROM posts"
    ") AS events ORDER BY at, post_id, step",
)


@dataclass(frozen=True)
class Params:
    finished: int
    rounds: int
    dbs: tuple[str, ...]
    seed: str | None = None  # a directory that keeps the seeded databases between runs

    @classmethod
    def of(cls, args: argparse.Namespace, dbs: tuple[str, ...]) -> Params:
        finished = args.posts or (50_000 if args.quick else 1_000_000)
        rounds = 5 if args.quick else 30
        return cls(finished=finished, rounds=rounds, dbs=dbs, seed=getattr(args, "seed", None))


def run(stack: Stack, params: Params) -> Report:
    report = Report("dashboard", params.__dict__.copy())
    with kept_seed.Seeds(stack, Path(params.seed) if params.seed else None) as seeds:
        for kind in params.dbs:
            url = seeds.url(kind, f"dashboard_{kind}_{params.finished}")
            engine = db.make_engine(url)
            try:
                _prepare(report, kind, engine, params.finished)
                sessions = db.make_sessionmaker(engine)
                _measure(report, kind, sessions, params)
                pages = dashboard_pages.PageParams(params.rounds, AIM_MS, stack.workdir / "web")
                dashboard_pages.measure(report, kind, url, sessions, pages)
            finally:
                engine.dispose()
    return report


def _prepare(report: Report, kind: str, engine: Engine, finished: int) -> None:
    """Migrate to head and load the posts, unless a kept seed holds them already (then
    the migration's time is the cost of its new revisions beside them)."""
    before = db.current_revision(engine)
    started = time.perf_counter()
    db.upgrade(engine)
    migrated = _ms(started) / 1000
    if kept_seed.seeded(engine) == finished:
        after = db.current_revision(engine)
        report.table(
            "kept seed", db=kind, posts=finished, migrated=f"{before} -> {after}", seconds=migrated
        )
        return
    started = time.perf_counter()
    _load(engine, finished)
    kept_seed.mark(engine, finished)
    report.table("load", db=kind, posts=finished, seconds=_ms(started) / 1000)


def _load(engine: Engine, count: int) -> None:
    with db.make_sessionmaker(engine).begin() as session:
        account = Account(name="bench")
        session.add(account)
        session.flush()
        owners = []
        for provider in PROVIDERS:
            credential = Credential(
                account_id=account.id, provider=provider, base_url="http://b", token_encrypted="t"
            )
            session.add(credential)
            session.flush()
            owners.append(seed.Owner(account.id, credential.id))
    seed.bulk_insert(engine, _late(_interleaved(owners, count)))
    with engine.begin() as connection:
        for statement in HISTORY:
            connection.execute(text(statement))
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        analyze = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
        autocommit.exec_driver_sql(analyze)


def _interleaved(owners: list[seed.Owner], count: int) -> Iterator[tuple[Any, ...]]:
    """``count`` finished posts, the networks' taking turns (as they publish in life)."""
    share = -(-count // len(owners))
    streams = [seed.done_rows(o, share, label=p) for o, p in zip(owners, PROVIDERS, strict=True)]
    return islice((row for rows in zip(*streams, strict=True) for row in rows), count)


def _late(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """``done_rows`` published 0-16 s after their scheduled time (it makes them equal)."""
    for i, row in enumerate(rows):
        late = row[SCHEDULED_AT] - timedelta(seconds=i % LATE_SPREAD)
        yield (*row[:SCHEDULED_AT], late, *row[SCHEDULED_AT + 1 :])


def _queries(session: Session) -> dict[str, Callable[[], object]]:
    now = utcnow()
    hour = Window.last(now, timedelta(hours=1))
    day = Window.last(now, timedelta(days=1))
    week = Window.last(now, timedelta(days=7), timedelta(hours=1))
    middle = session.execute(select(func.max(Post.id))).scalar_one() // 2
    one_network = PostFilter(provider="x", states=frozenset({"done"}))
    every = credential_health.CredentialFilter()
    x_credential = session.execute(
        select(Credential.id).where(Credential.provider == "x")
    ).scalar_one()
    account = session.execute(select(func.min(Account.id))).scalar_one()
    found: dict[str, Callable[[], object]] = {
        "health": lambda: health.health(session),
        "count x done": lambda: post_search.count(session, one_network),
        "page 1 x done": lambda: post_search.page(session, one_network),
        "deep page x done": lambda: post_search.page(session, one_network, before=middle),
        **_text_searches(session),
        "timeline": lambda: timeline.timeline(session, middle),
        "credentials page": lambda: credential_health.credentials(session, every, now),
        "credential page": lambda: credential_health.credential(session, x_credential, now),
        "account page": lambda: credential_health.account(session, account, now),
    }
    for label, window in (("hour", hour), ("day", day), ("week/hour", week)):
        found |= {
            f"publishes {label}": lambda w=window: charts.publishes(session, w),
            f"lateness {label}": lambda w=window: charts.lateness(session, w),
            f"durations {label}": lambda w=window: charts.durations(session, w),
            f"retries {label}": lambda w=window: charts.retries(session, w),
        }
    return found


# Text searches (``seed.done_rows``' texts are "<network> <i>", i counting up with the id):
# 11 posts; none; the 11,111 "mastodon 9..." among the oldest 40%; every 4th post;
# and a query shorter than a trigram, which no index serves (a scan that finds nothing).
TEXT_SEARCHES = {
    "text search": "x 12345",
    "text search, no match": "hello",
    "text search, old posts": "mastodon 9",
    "text search, every 4th post": "mastodon",
    "text search, 2 chars": "zz",
}
TEXT_COUNTS = {"text count, rare": "x 12345", "text count, every 4th post": "mastodon"}


def _text_searches(session: Session) -> dict[str, Callable[[], object]]:
    found: dict[str, Callable[[], object]] = {
        name: partial(post_search.page, session, PostFilter(text=query))
        for name, query in TEXT_SEARCHES.items()
    }
    for name, query in TEXT_COUNTS.items():
        found[name] = partial(post_search.count, session, PostFilter(text=query))
    return found


def _measure(report: Report, kind: str, sessions: sessionmaker[Session], params: Params) -> None:
    with sessions() as session:
        for name, query in _queries(session).items():
            query()  # warm: plans and pages cached, as on a dashboard in use
            times = []
            for _ in range(params.rounds):
                started = time.perf_counter()
                query()
                times.append(_ms(started))
            p95 = percentile(times, 0.95)
            report.row(
                db=kind, query=name, median_ms=round(statistics.median(times), 1), p95_ms=p95
            )
            report.target(f"{kind}: {name} p95", f"<= {AIM_MS:.0f} ms", p95, p95 <= AIM_MS)
        started = time.perf_counter()
        walked = sum(len(ids) for ids in post_search.all_ids(session, PostFilter(provider="x")))
        report.table("bulk walk of every id of one network", db=kind, ids=walked, ms=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
