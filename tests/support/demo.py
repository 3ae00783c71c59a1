"""``publisher demo --keep-running`` as a child process, for the tests and the README's
screenshots (``python -m tests.support.screenshots``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_LINE = re.compile(r"the dashboard, with the demo's posts, is at (\S+/dashboard)")
STOP_TIMEOUT = 60.0  # the demo stops its pipeline (workers, beat, Redis) within this


def _read_until(process: subprocess.Popen[str], pattern: re.Pattern[str]) -> tuple[str, str]:
    """The demo's output until a line matches: the match and everything read. The demo
    ends its summary within its own bounds, so this waits on that event, not a clock."""
    seen: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        found = pattern.search(line)
        if found:
            return found.group(1), "".join(seen)
    raise AssertionError("the demo ended without naming its dashboard:\n" + "".join(seen))


@contextmanager
def demo_kept_running(
    data_dir: Path, posts: int = 12, spread: float = 5
) -> Iterator[tuple[str, str]]:
    """A demo of ``posts`` left running in ``data_dir``: its dashboard's URL and its output
    up to that line; stopped (SIGTERM, as Ctrl-C) on the way out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    argv = [sys.executable, "-m", "publisher.cli", "demo", "--posts", str(posts)]
    argv += ["--spread", str(spread), "--port", str(free_port()), "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [*argv, "--keep-running"],
        cwd=ROOT,
        env=env | {"PYTHONUNBUFFERED": "1"},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield _read_until(process, DASHBOARD_LINE)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT)
