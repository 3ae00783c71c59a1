"""The chaos soak: many posts through the real pipeline while everything goes wrong.

N posts over several accounts (Mastodon, webhook and X credentials, plus one account whose
billing is suspended) fall due over a short window. The sandbox is strict for Mastodon and
X (it ignores Idempotency-Key and accepts duplicate text: only publisher's own
reconciliation keeps a post single; webhooks keep the receiver contract, deduplicating on
the key) and faults 20% of create calls from ``STRICT_MIX``: before the post is stored
(503, 429, reset) and after it (reset, 502/503/504, an answer slower than the client's
timeout, an unreadable 2xx), so many attempts are ambiguous. Two Celery workers and beat run on
fast settings while the soak SIGKILLs a random worker (its main process and its pool
children) every few seconds and starts a fresh one, restarts redis-server (every queued
message is lost) and, on PostgreSQL, restarts the database. A process that exits on its
own is restarted, as systemd's ``Restart=always`` would, and counted. (Beat exits on every
Redis outage; workers often do, with kombu's "Unrecoverable error: AttributeError".)

Redis restarts come at any moment, including while beat is starting: beat's scheduler
writes back a schedule entry that Redis lost (publisher/ops/beat_scheduler.py), so the sweep
always resumes by itself.

At the end every post must be final and nothing published twice:

* ``done`` (created exactly once at the provider, with the id the provider assigned),
  ``draft`` only after the last attempt (and never created) or as ``rescued`` /
  ``unconfirmed`` (which may exist: the user is told to check), ``cancelled`` only for the
  suspended account (never created);
* no post ``running`` (stuck) or still due (lost);
* the sandbox saw no duplicate text or idempotency key;
* every attempt 1..attempts of a post is in its call log, and no call row is in flight.

Run the full size with one command (``--help`` for the knobs)::

    .venv/bin/python -m tests.chaos.soak --posts 10000 --db postgres

``tests/chaos/test_chaos.py`` runs a small version in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.exc import DBAPIError

from publisher.core import service
from publisher.core.models import ApiCall, Post, PostEvent, utcnow
from publisher.sandbox import STRICT_MIX, Sandbox
from tests.support.pipeline import Pipeline
from tests.support.services import PostgresServer, RedisServer

PROVIDERS = ("mastodon", "webhook", "x")
FAULT_MIX = STRICT_MIX
STRICT_KINDS = ("mastodon", "x")  # webhooks keep the receiver contract (key dedupe)
# Drafts that say "this may have been published, check": a create is no failure for them.
UNCERTAIN_DRAFTS = {"rescued", "unconfirmed"}
# A "slow" create answers after this long: past the 1 s read timeout, so the client gives
# up on a post that does exist (the ambiguous case reconciliation is for).
SLOW_SECONDS = 1.6
POSTS_PER_CREDENTIAL = 40
DUE_PER_SECOND = 20.0  # default window: posts fall due at about this rate
CREATE_BATCH = 250  # posts created per transaction
POLL_SECONDS = 0.5
BOOT_TIMEOUT = 180.0  # seconds for the first workers to start consuming (a loaded machine)
READY = " ready."  # in the line a Celery worker logs once it consumes
WORKING = "] succeeded in "  # in the line a Celery worker logs when a task returns
FINDINGS_FILE = "chaos-findings.txt"  # in the workdir: the posts behind each finding
REPORT_EVERY = 10.0  # seconds between progress lines
SANDBOX_DRAIN = SLOW_SECONDS + 1.0  # let a last slow answer finish before reading the ledger
ACTIVE_FINAL = {"done", "draft"}
SUSPENDED_REASON = "billing_inactive"
Say = Callable[[str], None]
PostRow = Row[int, str, int, str | None, str | None, str | None]  # id, state, attempts, ...


@dataclass
class Scenario:
    posts: int = 300
    window: float | None = None  # seconds over which posts fall due; None: by DUE_PER_SECOND
    workers: int = 2
    concurrency: int | None = None  # threads per worker; None: the default (32)
    kill_every: tuple[float, float] = (2.0, 5.0)  # seconds between worker kills (uniform)
    redis_restarts: int = 2
    pg_restarts: int = 1  # only with a PostgreSQL server to restart
    pg_crash: bool = False  # immediate shutdown (needs a server that loses no commits)
    fault_rate: float = 0.2
    fault_mix: tuple[str, ...] = FAULT_MIX
    max_attempts: int = 8
    suspended_posts: int = 3  # posts of an account with billing suspended: cancelled
    lease_seconds: float = 6.0
    enqueue_grace: float = 5.0
    seed: int = 1
    stall_timeout: float = 240.0  # fail if no post becomes final for this long

    @property
    def due_window(self) -> float:
        return self.window if self.window is not None else max(10.0, self.posts / DUE_PER_SECOND)

    def env(self) -> dict[str, str]:
        return {
            "PUBLISHER_SWEEP_INTERVAL": "1",
            "PUBLISHER_RETRY_BASE": "0.2",
            "PUBLISHER_RETRY_MAX": "2",
            "PUBLISHER_HTTP_CONNECT_TIMEOUT": "1",
            "PUBLISHER_HTTP_TIMEOUT": "1",
            "PUBLISHER_LEASE_SECONDS": f"{self.lease_seconds:g}",
            "PUBLISHER_ENQUEUE_GRACE": f"{self.enqueue_grace:g}",
            "PUBLISHER_MAX_ATTEMPTS": str(self.max_attempts),
            "PUBLISHER_ALLOW_PRIVATE_URLS": "true",  # the sandbox runs on 127.0.0.1
        }


@dataclass
class Report:
    posts: int = 0
    done: int = 0
    draft: int = 0
    cancelled: int = 0
    lost: int = 0  # still approved/retry when the run ended
    stuck: int = 0  # still running
    duplicates: int = 0  # posts created more than once, plus the sandbox's duplicate list
    missing_calls: int = 0  # posts with an attempt number absent from the call log
    in_flight: int = 0  # call rows never completed nor abandoned
    draft_published: int = 0  # gave up, yet the provider has the post
    done_not_created: int = 0  # done, but the provider has no such post
    unexpected: int = 0  # a final state the scenario does not allow for that post
    no_external_id: int = 0  # done without the provider's id (informational)
    wrong_id: int = 0  # done with an id that is not the provider's for that post
    by_lookup: int = 0  # lookups that found a post an ambiguous attempt had created
    uncertain_drafts: int = 0  # drafts as rescued/unconfirmed
    uncertain_published: int = 0  # of those, created at the provider
    counters: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)  # call rows by category
    creates: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth a look, not failures

    def line(self) -> str:
        c = self.counters
        return (
            f"chaos: posts={self.posts} done={self.done} draft={self.draft} "
            f"kills={c['kills']} redis_restarts={c['redis_restarts']} "
            f"pg_restarts={c['pg_restarts']} lost={self.lost} duplicates={self.duplicates} "
            f"stuck={self.stuck} wrong_id={self.wrong_id} missing_calls={self.missing_calls} "
            f"settled_by_lookup={self.by_lookup}"
        )

    def details(self) -> str:
        c = self.counters
        calls = " ".join(f"{k}={v}" for k, v in sorted(self.calls.items()))
        return (
            f"chaos details: cancelled={self.cancelled} in_flight={self.in_flight} "
            f"draft_published={self.draft_published} done_not_created="
            f"{self.done_not_created} unexpected={self.unexpected} "
            f"no_external_id={self.no_external_id} creates={self.creates} "
            f"uncertain_drafts={self.uncertain_drafts} "
            f"uncertain_published={self.uncertain_published} "
            f"beat_restarts={c['beat_restarts']} control_restarts={c['control_restarts']} "
            f"worker_exits={c['worker_exits']} "
            f"leftover_processes={c['leftover_processes']} "
            f"seconds={self.seconds:.0f}\nchaos calls: {calls}"
        )


# Processes --------------------------------------------------------------------------


def _processes(path: str) -> Iterator[tuple[int, str]]:
    """(pid, the text of /proc/PID/``path``) for every process we can read."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / path).read_text(errors="replace")
            except OSError:
                continue


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``."""
    return [
        child for child, stat in _processes("stat") if int(stat.rsplit(")", 1)[1].split()[1]) == pid
    ]


def _our_workers() -> list[int]:
    """Pids of worker processes this soak started (their --hostname is w<n>-<our pid>@)."""
    hostname = re.compile(rf"^w\d+-{os.getpid()}@")
    return [
        pid
        for pid, cmdline in _processes("cmdline")
        if any(hostname.match(arg) for arg in cmdline.split("\0"))
    ]


def kill_worker(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL a Celery worker and any pool children (prefork), by pid; returns how many
    children (0 with the threads pool).

    The main process is stopped first so it cannot fork a replacement child meanwhile.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGSTOP)
    children = _children(process.pid)
    for pid in [process.pid, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    return len(children)


class DurablePostgres(PostgresServer):
    """PostgreSQL whose commits survive an immediate (crash) shutdown of the server.

    With ``synchronous_commit=on`` a commit returns only once its WAL is written to the
    kernel, so killing the server loses nothing (``fsync=off`` only matters if the OS
    dies); the suite's server trades that for speed.
    """

    def _command(self) -> list[str]:
        return [
            "synchronous_commit=on" if arg == "synchronous_commit=off" else arg
            for arg in super()._command()
        ]


# The soak ---------------------------------------------------------------------------


class Soak:
    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        database_url: str,
        redis: RedisServer,
        sandbox: Sandbox,
        postgres: PostgresServer | None = None,
        say: Say = print,
    ) -> None:
        self.scenario = scenario
        self.redis = redis
        self.postgres = postgres
        self.say = say
        self.rng = random.Random(scenario.seed)
        self.counters: Counter[str] = Counter()
        self.names = itertools.count(1)
        self.pipeline = Pipeline(workdir, database_url, redis.url, sandbox, **scenario.env())
        self.suspended: set[int] = set()
        self.texts: dict[str, int] = {}
        self.seen: set[tuple[str, str]] = set()
        self.next_kill: float | None = None

    # Setup ---------------------------------------------------------------------------

    def populate(self, first_due: datetime) -> None:
        """Accounts, credentials and approved posts due over the window from ``first_due``."""
        s = self.scenario
        active = s.posts - s.suspended_posts
        credentials = []
        for i in range(max(2 * len(PROVIDERS), active // POSTS_PER_CREDENTIAL)):
            provider = PROVIDERS[i % len(PROVIDERS)]
            account = self.pipeline.account()
            token = f"tok-{provider}-{i}"
            credentials.append((account, self.pipeline.credential(account, provider, token)))
        suspended = self.pipeline.account(billing_status="suspended")
        plan = [(credentials[i % len(credentials)], False) for i in range(active)]
        plan += [((suspended, self.pipeline.credential(suspended)), True)] * s.suspended_posts
        self.rng.shuffle(plan)
        step = s.due_window / max(1, len(plan) - 1)
        for start in range(0, len(plan), CREATE_BATCH):
            with self.pipeline.sessions.begin() as session:
                for n in range(start, min(start + CREATE_BATCH, len(plan))):
                    (account, credential), is_suspended = plan[n]
                    text = f"chaos {s.seed} post {n} account {account}"
                    post = service.create_post(session, account, credential, text)
                    when = first_due + timedelta(seconds=n * step)
                    service.approve(session, post.id, utcnow(), when)
                    if is_suspended:
                        self.suspended.add(post.id)
                    self.texts[text] = post.id

    def start(self) -> None:
        """Beat and the workers; returns once every worker consumes (generous timeout)."""
        self.pipeline.start_beat()
        for _ in range(self.scenario.workers):
            self._start_worker()
        deadline = time.monotonic() + BOOT_TIMEOUT
        while len(self.workers_with(READY)) < self.scenario.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {BOOT_TIMEOUT:g}s")
            time.sleep(POLL_SECONDS)

    def _start_worker(self) -> None:
        self.pipeline.start_worker(f"w{next(self.names)}", self.scenario.concurrency)

    def workers_with(self, marker: str) -> list[str]:
        """Running publishing workers whose log shows ``marker`` by now."""
        found = []
        for name in self.pipeline.processes:
            if name in ("beat", "control"):
                continue
            if (name, marker) not in self.seen and marker in self.pipeline.log(name):
                self.seen.add((name, marker))
            if (name, marker) in self.seen:
                found.append(name)
        return found

    # Chaos ---------------------------------------------------------------------------

    def timeline(self, origin: float) -> list[tuple[float, str]]:
        """When to restart what: spread over the due window (monotonic times)."""
        s, window = self.scenario, self.scenario.due_window
        events = [
            (origin + window * (k + 1) / (s.redis_restarts + 1), "redis")
            for k in range(s.redis_restarts)
        ]
        if self.postgres is not None:
            events += [
                (origin + window * (k + 0.5) / max(1, s.pg_restarts), "postgres")
                for k in range(s.pg_restarts)
            ]
        return sorted(events)

    def disrupt(self, kind: str) -> None:
        began = time.monotonic()
        if kind == "redis":
            self.redis.kill()
            time.sleep(1.0)  # a real outage, not just a blink
            self.redis.restart()
            self.counters["redis_restarts"] += 1
        else:
            assert self.postgres is not None
            self.postgres.restart(crash=self.scenario.pg_crash)
            self.counters["pg_restarts"] += 1
        self.say(f"chaos: restarted {kind} in {time.monotonic() - began:.1f}s")

    def kill_due(self, now: float) -> bool:
        """Is it time to kill a worker? The clock runs only while every worker consumes.

        On a slow machine a replacement takes seconds to boot; killing workers that are
        still booting would starve the pipeline rather than test it. So the kills come
        every few seconds of full strength, and only a worker that has finished a task
        (so is warm, likely busy) is a victim.
        """
        full = len(self.workers_with(READY)) >= self.scenario.workers
        if not full or not self.workers_with(WORKING):
            self.next_kill = None
        elif self.next_kill is None:
            self.next_kill = now + self.rng.uniform(*self.scenario.kill_every)
        return self.next_kill is not None and now >= self.next_kill

    def kill_random_worker(self) -> None:
        """SIGKILL a random working worker (main process and children); start another."""
        name = self.rng.choice(self.workers_with(WORKING))
        kill_worker(self.pipeline.processes.pop(name))
        self.counters["kills"] += 1
        self.next_kill = None
        self._start_worker()

    def supervise(self) -> None:
        """Restart any process that exited on its own (systemd's Restart=always)."""
        for name, process in list(self.pipeline.processes.items()):
            if process.poll() is None:
                continue
            del self.pipeline.processes[name]
            self.say(f"chaos: {name} exited with {process.returncode}; restarting it")
            if name == "beat":
                self.counters["beat_restarts"] += 1
                self.pipeline.start_beat()
            elif name == "control":
                self.counters["control_restarts"] += 1
                self.pipeline.start_control()
            else:
                self.counters["worker_exits"] += 1
                self._start_worker()

    def states(self) -> Counter[str] | None:
        """Post counts by state; None while the database is unreachable."""
        try:
            with self.pipeline.sessions() as session:
                rows = session.execute(select(Post.state, func.count()).group_by(Post.state))
                return Counter({state: count for state, count in rows})
        except DBAPIError:
            return None

    def drive(self, origin: float) -> bool:
        """Chaos until every post is final; False if progress stalled for too long."""
        s = self.scenario
        events = self.timeline(origin)
        progress = Progress(s.posts, s.stall_timeout, self.say)
        while True:
            self.supervise()
            now = time.monotonic()
            if events and now >= events[0][0]:
                self.disrupt(events.pop(0)[1])
            elif self.kill_due(now) and not progress.finished:
                self.kill_random_worker()
            states = self.states()
            if states is not None:
                progress.update(states, self.counters)
                if progress.finished and not events:
                    return True
            if progress.stalled():
                return False
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Stop every process; SIGKILL (by pid) and count any worker process left over."""
        self.pipeline.stop()
        for pid in _our_workers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.counters["leftover_processes"] += 1

    # Verdict -------------------------------------------------------------------------

    def verify(self, report: Report) -> Report:
        """Judge every post; the posts behind each finding go to ``FINDINGS_FILE``."""
        with self.pipeline.sessions() as session:
            posts = session.execute(
                select(
                    Post.id,
                    Post.state,
                    Post.attempts,
                    Post.cancel_reason,
                    Post.external_id,
                    Post.last_error_category,
                )
            ).all()
            calls = session.execute(select(ApiCall.post_id, ApiCall.attempt, ApiCall.category))
            attempts: dict[int, set[int]] = defaultdict(set)
            for post_id, attempt, category in calls:
                attempts[post_id].add(attempt)
                report.calls[category] += 1
        sandbox = self.pipeline.sandbox
        creates = Counter(self.texts.get(c.text, -1) for c in sandbox.creates)
        # The id each post should carry: the provider's; a webhook receiver whose answer
        # names no id leaves the post's idempotency key as its id (webhook.parse_success).
        ids = {
            self.texts.get(c.text, -1): {c.id, c.idempotency_key} if c.kind == "webhook" else {c.id}
            for c in sandbox.creates
        }
        report.creates = sum(creates.values())
        report.in_flight = report.calls["in_flight"]
        report.by_lookup = report.calls["reconciled"]
        found = Findings()
        for post in posts:
            self._judge(post, creates[post.id], attempts[post.id], report, found)
            if (
                post.state == "done"
                and creates[post.id] == 1
                and post.external_id not in ids[post.id]
            ):
                report.wrong_id += 1
                found.problem("done with an id the provider did not assign", post.id)
        duplicates = sandbox.duplicates()
        report.duplicates += len(duplicates)
        report.problems = found.lines(found.problems)
        report.notes = found.lines(found.notes)
        report.problems += [f"duplicate at the sandbox: {d}" for d in duplicates]
        if creates[-1]:
            report.problems.append(f"{creates[-1]} creates match no post of the soak")
        if report.in_flight:
            report.problems.append(f"{report.in_flight} call rows still in_flight")
        if report.timed_out:
            stalled = f"no progress for {self.scenario.stall_timeout:g}s"
            report.problems.append(f"{stalled}; last worker error: {self.last_error()}")
        self.explain(found)
        return report

    def _judge(
        self, post: PostRow, created: int, attempts: set[int], report: Report, found: Findings
    ) -> None:
        report.posts += 1
        state, post_id = post.state, post.id
        if state in ("done", "draft", "cancelled"):
            setattr(report, state, getattr(report, state) + 1)
        if state == "running":
            report.stuck += 1
            found.problem("stuck in running", post_id)
        elif state in ("approved", "retry"):
            report.lost += 1
            found.problem(f"lost in {state}", post_id)
        elif not self._expected(post):
            report.unexpected += 1
            found.problem(f"unexpected final state {state} ({post.cancel_reason})", post_id)
        self._judge_creates(post, created, report, found)
        if state == "done" and not post.external_id:
            report.no_external_id += 1
            found.note("done without the provider's id", post_id)
        checked = post.cancel_reason != SUSPENDED_REASON  # cancelled before any call
        if checked and not set(range(1, post.attempts + 1)) <= attempts:
            report.missing_calls += 1
            found.problem("an attempt missing from the call log", post_id)

    def _judge_creates(self, post: PostRow, created: int, report: Report, found: Findings) -> None:
        """What the provider holds for the post, against its final state."""
        state, post_id = post.state, post.id
        if created > 1:
            report.duplicates += 1
            found.problem("created more than once at the provider", post_id)
        if state == "done" and created == 0:
            report.done_not_created += 1
            found.problem("done but never created at the provider", post_id)
        uncertain = state == "draft" and post.last_error_category in UNCERTAIN_DRAFTS
        if uncertain:
            report.uncertain_drafts += 1
            report.uncertain_published += bool(created)
            found.note(f"draft as {post.last_error_category}", post_id)
        elif state in ("draft", "cancelled") and created:
            report.draft_published += state == "draft"
            found.problem(f"{state} but published at the provider", post_id)

    def _expected(self, post: PostRow) -> bool:
        if post.id in self.suspended:
            return bool(post.state == "cancelled" and post.cancel_reason == SUSPENDED_REASON)
        if post.state == "draft":
            return bool(
                post.attempts == self.scenario.max_attempts
                or post.last_error_category in UNCERTAIN_DRAFTS
            )
        return post.state in ACTIVE_FINAL

    def last_error(self) -> str:
        """The last exception line in the newest worker log (why nothing moves?)."""
        logs = sorted(self.pipeline.workdir.glob("w*.log"), key=lambda p: p.stat().st_mtime)
        for path in reversed(logs):
            for line in reversed(path.read_text(errors="replace").splitlines()):
                if re.match(r"^[\w.]+(Error|Exception)\b", line):
                    return f"{path.name}: {line[:300]}"
        return "none"

    def explain(self, found: Findings) -> None:
        """Write each example post's row, history, call log and provider creates."""
        by_id = {v: k for k, v in self.texts.items()}
        out = []
        for kind, ids in [*found.problems.items(), *found.notes.items()]:
            for post_id in ids[: Findings.EXAMPLES]:
                out.append(f"=== {kind}: post {post_id}")
                out += self._describe(post_id, by_id.get(post_id, ""))
        path = self.pipeline.workdir / FINDINGS_FILE
        path.write_text("\n".join(out) + "\n" if out else "")

    def _describe(self, post_id: int, text: str) -> list[str]:
        with self.pipeline.sessions() as session:
            post = session.get(Post, post_id)
            events = session.scalars(
                select(PostEvent).where(PostEvent.post_id == post_id).order_by(PostEvent.id)
            ).all()
            calls = session.scalars(
                select(ApiCall).where(ApiCall.post_id == post_id).order_by(ApiCall.id)
            ).all()
        lines = [f"post: {_columns(post)}"]
        lines += [
            f"event: {e.at:%H:%M:%S.%f} {e.from_state}->{e.to_state} {e.trigger} "
            f"{e.actor} {e.reason or ''}"
            for e in events
        ]
        lines += [
            f"call: attempt={c.attempt} {c.method} {c.category} status={c.status_code} "
            f"{c.started_at:%H:%M:%S.%f}..{c.finished_at or '-'} {c.error or ''}"
            for c in calls
        ]
        creates = [c for c in self.pipeline.sandbox.creates if c.text == text]
        lines += [f"provider create: {c.kind} id={c.id} at={c.at:%H:%M:%S.%f}" for c in creates]
        return lines


def _columns(row: Any) -> str:
    if row is None:
        return "(gone)"
    names = (
        "state",
        "attempts",
        "ambiguous",
        "external_id",
        "cancel_reason",
        "last_error_category",
        "last_error_message",
        "first_started_at",
    )
    return " ".join(f"{n}={getattr(row, n)!r}" for n in names)


class Findings:
    """Failed checks (problems) and informational notes, by kind, as post ids."""

    EXAMPLES = 8

    def __init__(self) -> None:
        self.problems: dict[str, list[int]] = defaultdict(list)
        self.notes: dict[str, list[int]] = defaultdict(list)

    def problem(self, kind: str, post_id: int) -> None:
        self.problems[kind].append(post_id)

    def note(self, kind: str, post_id: int) -> None:
        self.notes[kind].append(post_id)

    @classmethod
    def lines(cls, by_kind: dict[str, list[int]]) -> list[str]:
        return [
            f"{kind}: {len(ids)} (e.g. posts {', '.join(map(str, ids[: cls.EXAMPLES]))})"
            for kind, ids in by_kind.items()
        ]


class Progress:
    """Counts final posts, prints a line now and then, and notices a stall."""

    def __init__(self, total: int, stall_timeout: float, say: Say) -> None:
        self.total = total
        self.stall_timeout = stall_timeout
        self.say = say
        self.final = -1
        self.moved = self.printed = self.began = time.monotonic()
        self.finished = False

    def update(self, states: Counter[str], counters: Counter[str]) -> None:
        now = time.monotonic()
        final = sum(states[s] for s in ("done", "draft", "cancelled"))
        if final != self.final:
            self.final, self.moved = final, now
        self.finished = final == self.total
        if now - self.printed >= REPORT_EVERY or self.finished:
            self.printed = now
            shown = " ".join(f"{k}={v}" for k, v in sorted(states.items()))
            events = " ".join(f"{k}={v}" for k, v in sorted(counters.items()))
            self.say(
                f"chaos: t={now - self.began:.0f}s final={final}/{self.total} {shown} {events}"
            )

    def stalled(self) -> bool:
        return time.monotonic() - self.moved > self.stall_timeout


def run(
    scenario: Scenario,
    workdir: Path,
    database_url: str,
    postgres: PostgresServer | None = None,
    say: Say = print,
) -> Report:
    """The whole soak on ``database_url``; restarts ``postgres`` when given."""
    began = time.monotonic()
    with (
        RedisServer() as redis,
        Sandbox(
            fault_rate=scenario.fault_rate,
            seed=scenario.seed,
            fault_mix=scenario.fault_mix,
            slow_seconds=SLOW_SECONDS,
            strict=STRICT_KINDS,
        ) as sandbox,
    ):
        soak = Soak(scenario, workdir, database_url, redis, sandbox, postgres, say)
        try:
            lead = 4.0 + scenario.posts / 1000  # setup time before the first post is due
            soak.populate(utcnow() + timedelta(seconds=lead))
            say(f"chaos: {scenario.posts} posts due over {scenario.due_window:.0f}s")
            first_due = time.monotonic() + max(0.0, lead - (time.monotonic() - began))
            soak.start()
            finished = soak.drive(max(first_due, time.monotonic()))
        finally:
            soak.stop()
        time.sleep(SANDBOX_DRAIN)
        report = Report(counters=soak.counters, timed_out=not finished)
        soak.verify(report)
    report.seconds = time.monotonic() - began
    return report


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[tuple[str, PostgresServer | None]]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'publisher.db'}", None
        return
    with DurablePostgres() as server:
        yield server.create_database("chaos"), server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.soak", description=__doc__)
    parser.add_argument("--posts", type=int, default=Scenario.posts)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--window", type=float, help="seconds over which posts fall due")
    parser.add_argument("--workers", type=int, default=Scenario.workers)
    parser.add_argument("--concurrency", type=int, default=Scenario.concurrency)
    parser.add_argument("--redis-restarts", type=int, default=Scenario.redis_restarts)
    parser.add_argument("--pg-restarts", type=int, default=Scenario.pg_restarts)
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    parser.add_argument("--stall-timeout", type=float, default=Scenario.stall_timeout)
    parser.add_argument(
        "--pg-clean-restart", action="store_true", help="restart PostgreSQL cleanly, not a crash"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs directory")
    args = parser.parse_args(argv)
    scenario = Scenario(
        posts=args.posts,
        window=args.window,
        workers=args.workers,
        concurrency=args.concurrency,
        redis_restarts=args.redis_restarts,
        pg_restarts=args.pg_restarts,
        pg_crash=not args.pg_clean_restart,  # our own server loses no commit in a crash
        seed=args.seed,
        stall_timeout=args.stall_timeout,
    )
    workdir = Path(tempfile.mkdtemp(prefix="publisher-chaos-"))
    with database(args.db, workdir) as (url, server):
        report = run(scenario, workdir, url, server)
    print(report.line())
    print(report.details())
    for problem in report.problems:
        print(f"chaos PROBLEM: {problem}")
    for note in report.notes:
        print(f"chaos note: {note}")
    if report.problems or args.keep:
        print(f"chaos: logs and {FINDINGS_FILE} in {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
