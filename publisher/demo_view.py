"""What ``publisher demo`` shows in the terminal: live progress, then the summary.

On a TTY the progress bar and the table of counts by state redraw in place (ANSI cursor
moves); anywhere else (CI, a pipe) a plain one-line status is printed every few seconds,
so logs stay readable. Standard library only; the demo computes, this module renders.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

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


@dataclass
class Report:
    """The demo's outcome, as the summary shows it."""

    total: int
    elapsed: float
    first_try: int = 0
    after_retries: int = 0
    cancelled: Counter[str] = field(default_factory=Counter)
    drafts: int = 0
    unfinished: int = 0
    notifications: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    sentry_events: int = 0
    creates: int = 0
    duplicates: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    api_url: str = ""
    retried_post: int | None = None
    data_dir: str = ""
    log_path: str = ""

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.duplicates


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
        f"  not finished in time       {report.unfinished}",
        f"  notifications written      {sum(report.notifications.values())}"
        f"  ({_tally(report.notifications)}); delivered to the app: {report.delivered}",
        f"  Sentry events captured     {report.sentry_events}",
        f"  posts created at provider  {report.creates}",
        f"  duplicates at provider     {len(report.duplicates)}",
        *_where(report, keep_running),
        "",
        *_verdict(report),
    ]
    return lines


def _where(report: Report, keep_running: bool) -> list[str]:
    lines = ["", "Where to look"]
    note = "" if keep_running else "  (stopped now; rerun with --keep-running to explore it)"
    lines.append(f"  API                {report.api_url}/docs{note}")
    if report.retried_post is not None:
        lines.append(
            f"  a retried post     curl {report.api_url}/v1/posts/{report.retried_post}/calls"
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
