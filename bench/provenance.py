"""What a result was measured on: the commit of the whole tree, and whether it was clean.

Every result carries ``{"commit", "dirty", "changes"}`` from ``git rev-parse HEAD`` and
``git status --porcelain`` over the whole repository (``publisher/``, ``bench/``,
``tests/support/``, everything), so a figure can always be traced to code anyone can
check out. A run on a dirty tree is refused unless the caller allows it, and then the
result says so. The benchmarks' own outputs (``OUTPUTS``) are not inputs to what is
measured and are left out, or the second benchmark of ``all`` would refuse to run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]
# Written by the benchmarks themselves: results, their temporary files, the generated doc.
OUTPUTS = ("bench/results/", "docs/benchmarks.md")

Git = Callable[[Sequence[str]], str]  # runs git with these arguments, returns stdout


class DirtyTree(BenchError):
    """The working tree has uncommitted changes: commit them, or pass --allow-dirty (the
    results are then marked dirty)."""


@dataclass(frozen=True)
class Code:
    commit: str
    dirty: bool
    changes: tuple[str, ...]  # ``git status --porcelain`` lines that made it dirty

    def as_json(self) -> dict[str, object]:
        return {"commit": self.commit, "dirty": self.dirty, "changes": list(self.changes)}


def _git(args: Sequence[str]) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


def changed(porcelain: str) -> tuple[str, ...]:
    """The lines of ``git status --porcelain`` output that are not benchmark outputs."""
    kept = []
    for line in porcelain.splitlines():
        path = line[3:].split(" -> ")[-1].strip().strip('"')
        if line.strip() and not path.startswith(OUTPUTS):
            kept.append(line)
    return tuple(kept)


def inspect(git: Git | None = None) -> Code:
    """The commit checked out and the uncommitted changes of the whole tree."""
    git = git or _git
    commit = git(["rev-parse", "HEAD"]).strip()
    changes = changed(git(["status", "--porcelain", "--untracked-files=normal"]))
    return Code(commit, bool(changes), changes)


def require_clean(allow_dirty: bool, git: Git | None = None) -> Code:
    """The tree's ``Code``; raises ``DirtyTree`` (listing the changes) when it has
    uncommitted changes and ``allow_dirty`` is false."""
    code = inspect(git)
    if code.dirty and not allow_dirty:
        shown = "\n".join(f"  {line}" for line in code.changes[:20])
        more = f"\n  ... {len(code.changes) - 20} more" if len(code.changes) > 20 else ""
        raise DirtyTree(f"{DirtyTree.__doc__}\n{shown}{more}")
    return code
