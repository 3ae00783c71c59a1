"""What ``publisher demo`` shows: live progress, then the summary and its verdict.

On a TTY the progress bar and the table of counts by state redraw in place (ANSI cursor
moves); anywhere else (CI, a pipe) a plain one-line status is printed every few seconds,
so logs stay readable. Standard library only; the demo computes, this module renders.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from publisher.sandbox import Sandbox

STATES = ("approved", "running", "retry", "done", "cancelled", "draft")
LABELS = {"draft": "draft (gave up)"}
BAR_WIDTH = 30  # characters: fits an 80-column terminal beside the counts
PLAIN_EVERY = 2.0  # s between two status lines when the output is not a terminal
UP_AND_CLEAR = "\x1b[{n}F"  # cursor to the start of the line n lines up
CLEAR_LINE = "\x1b[2K"


def bar(done: int, total: int, width: int = BAR_WIDTH, fancy: bool = True) -> str:
    """``[####------]``-style bar, ``done`` of ``total`` filled (an empty total is full)."""
    filled = width if total <= 0 else min(width, done * width // total)
    full, empty = ("█", "░") if fancy else ("#", "-")
    return f"[{full * filled}{empty * (width - filled)}]"


class LiveView:
    """Redraws progress in place on a terminal; prints a status line now and then elsewhere."""

    def __init__(self, stream: TextIO, total: int, tty: bool | None = None) -> None:
        self.stream = stream
        self.total = total
        self.tty = stream.isatty() if tty is None else tty
        encoding = (getattr(stream, "encoding", None) or "").lower()
        self.fancy = self.tty and encoding.replace("-", "") == "utf8"
        self.drawn = 0
        self.last_plain = float("-inf")

    def update(self, counts: Mapping[str, int], final: int, elapsed: float) -> None:
        if self.tty:
            self._redraw(self._lines(counts, final, elapsed))
        elif time.monotonic() - self.last_plain >= PLAIN_EVERY:
            self._plain(counts, final, elapsed)

    def finish(self, counts: Mapping[str, int], final: int, elapsed: float) -> None:
        """The last state, always shown (the plain mode may have skipped it)."""
        if self.tty:
            self._redraw(self._lines(counts, final, elapsed))
        else:
            self._plain(counts, final, elapsed)

    def _lines(self, counts: Mapping[str, int], final: int, elapsed: float) -> list[str]:
        head = f"{bar(final, self.total, fancy=self.fancy)} {final:>4}/{self.total} final"
        lines = [f"{head}   {elapsed:5.1f} s", "  state              posts"]
        for state in STATES:
            lines.append(f"  {LABELS.get(state, state):<17}{counts.get(state, 0):>6}")
        return lines

    def _redraw(self, lines: list[str]) -> None:
        out = UP_AND_CLEAR.format(n=self.drawn) if self.drawn else ""
        out += "".join(f"{CLEAR_LINE}{line}\n" for line in lines)
        self.stream.write(out)
        self.stream.flush()
        self.drawn = len(lines)

    def _plain(self, counts: Mapping[str, int], final: int, elapsed: float) -> None:
        parts = " ".join(f"{state}={counts.get(state, 0)}" for state in STATES)
        self.stream.write(f"[{elapsed:5.1f} s] {final}/{self.total} final  {parts}\n")
        self.stream.flush()
        self.last_plain = time.monotonic()


DONE = "done"
UNCONFIRMED = "unconfirmed"  # a network that cannot be read back could not tell


def outcome(post: Mapping[str, Any]) -> str | None:
    """A post's final state in the scenario's words ("done", "cancelled:<reason>",
    "draft:gave_up"); None while it is not final."""
    if post["state"] == DONE:
        return DONE
    if post["state"] == "cancelled":
        return f"cancelled:{post['cancel_reason']}"
    if post["state"] == "draft" and (post.get("last_error") or {}).get("category") == UNCONFIRMED:
        return f"draft:{UNCONFIRMED}"
    if post["state"] == "draft" and post["attempts"] > 0:
        return "draft:gave_up"
    return None


@dataclass
class Report:
    """The demo's outcome, as the summary shows it."""

    total: int
    elapsed: float
    first_try: int = 0
    after_retries: int = 0
    cancelled: Counter[str] = field(default_factory=Counter)
    drafts: int = 0
    unconfirmed: int = 0
    networks: Counter[str] = field(default_factory=Counter)  # creates at each network
    unfinished: int = 0
    notifications: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    sentry_events: Counter[str] = field(default_factory=Counter)
    creates: int = 0
    duplicates: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    retried_post: int | None = None
    api_url: str = ""
    data_dir: str = ""
    log_path: str = ""

    @classmethod
    def build(
        cls,
        posts: Sequence[Mapping[str, Any]],
        expected: Mapping[int, tuple[str, str]],
        notes: Sequence[Mapping[str, Any]],
        sandbox: Sandbox,
        elapsed: float,
    ) -> Report:
        """Tallies ``posts`` against ``expected`` (post id -> (kind, final state))."""
        report = cls(len(expected), elapsed)
        for post in posts:
            report._count(post)
        report.unfinished = len(expected) - sum(outcome(p) is not None for p in posts)
        report.mismatches = mismatches(posts, expected)
        report.notifications.update(n["kind"] for n in notes)
        report.delivered = sum(bool(n["delivered_at"]) for n in notes)
        report.sentry_events.update(_sentry_kind(e) for e in sandbox.sentry_events)
        report.creates = len(sandbox.creates)
        report.networks.update(create.kind for create in sandbox.creates)
        report.duplicates = [
            f"{d.kind} {d.field} {d.value!r} created {d.count} times" for d in sandbox.duplicates()
        ]
        return report

    def _count(self, post: Mapping[str, Any]) -> None:
        final = outcome(post)
        if final == DONE and post["attempts"] <= 1:
            self.first_try += 1
        elif final == DONE:
            self.after_retries += 1
            self.retried_post = self.retried_post or post["id"]
        elif final is not None and final.startswith("cancelled:"):
            self.cancelled[post["cancel_reason"]] += 1
        elif final == f"draft:{UNCONFIRMED}":
            self.unconfirmed += 1
        elif final is not None:
            self.drafts += 1

    def where(self, api_url: str, data_dir: Path, log_path: Path) -> None:
        self.api_url, self.data_dir, self.log_path = api_url, str(data_dir), str(log_path)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.duplicates


def mismatches(
    posts: Sequence[Mapping[str, Any]], expected: Mapping[int, tuple[str, str]]
) -> list[str]:
    """One line per post whose final state is not the expected one (or that never ended)."""
    by_id = {post["id"]: post for post in posts}
    lines = []
    for post_id, (kind, wanted) in sorted(expected.items()):
        post = by_id.get(post_id)
        got = "missing" if post is None else outcome(post) or f"{post['state']} (not final)"
        if got != wanted:
            lines.append(f"post {post_id} ({kind}): expected {wanted}, got {got}")
    return lines


def _sentry_kind(event: Mapping[str, Any]) -> str:
    if str(event.get("message", "")).startswith("unclassified"):
        return "unclassified response"
    return f"{event.get('level', 'other')} log"


def _tally(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "none"


def summary(report: Report, keep_running: bool) -> list[str]:
    """The closing lines: what happened, whether it was right, and where to look."""
    lines = [
        "",
        f"Summary ({report.total} posts, {report.elapsed:.0f} s)",
        f"  published, first try       {report.first_try}",
        f"  published after retries    {report.after_retries}",
        f"  cancelled                  {sum(report.cancelled.values())}"
        f"  ({_tally(report.cancelled)})",
        f"  returned to draft          {report.drafts}  (gave up after the last attempt)",
        f"  unconfirmed, not resent    {report.unconfirmed}"
        "  (an ambiguous attempt a network cannot be asked about)",
        *([f"  NOT FINISHED in time       {report.unfinished}"] if report.unfinished else []),
        f"  notifications written      {sum(report.notifications.values())}"
        f"  ({_tally(report.notifications)}); delivered to the app: {report.delivered}",
        f"  Sentry events captured     {sum(report.sentry_events.values())}"
        f"  ({_tally(report.sentry_events)})",
        f"  posts created at provider  {report.creates}  ({_tally(report.networks)})",
        f"  duplicates at provider     {len(report.duplicates)}",
        *_where(report, keep_running),
        "",
        *_verdict(report),
    ]
    return lines


def _where(report: Report, keep_running: bool) -> list[str]:
    lines = ["", "Where to look"]
    note = "" if keep_running else "  (stopped now; rerun with --keep-running to explore it)"
    lines.append(f"  dashboard          {report.api_url}/dashboard{note}")
    lines.append(f"  API                {report.api_url}/docs")
    if report.retried_post is not None:
        lines.append(f"  a retried post     {report.api_url}/dashboard/posts/{report.retried_post}")
        lines.append(
            f"                     curl {report.api_url}/v1/posts/{report.retried_post}/calls"
        )
    lines.append(f"  data directory     {report.data_dir}")
    lines.append(f"  pipeline log       {report.log_path}")
    return lines


def _verdict(report: Report) -> list[str]:
    if report.ok:
        return ["OK: every post reached its expected state, and none was published twice."]
    lines = []
    if report.mismatches:
        lines.append(f"FAILED: {len(report.mismatches)} post(s) differ from the plan:")
        lines += [f"  {line}" for line in report.mismatches]
    if report.duplicates:
        lines.append("FAILED: duplicates at the provider:")
        lines += [f"  {line}" for line in report.duplicates]
    return lines
