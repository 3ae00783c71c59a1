"""Results: a table on stdout and ``bench/results/<name>.json`` with the machine, the
software versions, the parameters, the figures and each target's verdict."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.cpu import Interference
from publisher.ops.embedded_redis import redis_binary

RESULTS = Path(__file__).parent / "results"
OTHER_LOAD_WARNING = 0.2  # cores used by other jobs beyond which the figures are suspect


@dataclass
class Target:
    name: str
    goal: str  # e.g. ">= 0.8x bare"
    value: float | None
    met: bool | None  # None: not measured in this run
    note: str = ""


@dataclass
class Report:
    name: str
    params: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # query plans, samples, logs
    load: Interference = field(default_factory=lambda: Interference().start())

    def row(self, **values: Any) -> None:
        self.rows.append(values)

    def target(
        self, name: str, goal: str, value: float | None, met: bool | None, note: str = ""
    ) -> None:
        self.targets.append(Target(name, goal, value, met, note))

    def finish(self, tag: str = "") -> Path:
        """Print the table and the verdicts, write the JSON (``<name>[-tag].json``)."""
        load = self.load.stop()
        print(f"\n== {self.name} ==  {_params(self.params)}")
        print(table(self.rows))
        for t in self.targets:
            verdict = {True: "MET", False: "MISSED", None: "n/a"}[t.met]
            value = "-" if t.value is None else _cell(t.value)
            note = f"  ({t.note})" if t.note else ""
            print(f"  target {t.name}: {t.goal} -> {value}  {verdict}{note}")
        document = {
            "name": self.name,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": versions(),
            "code": code_version(),
            "load": load,
            "params": self.params,
            "rows": self.rows,
            "targets": [asdict(t) for t in self.targets],
            "extra": self.extra,
        }
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / (f"{self.name}-{tag}.json" if tag else f"{self.name}.json")
        partial = path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(document, indent=2, default=str) + "\n")
        partial.replace(path)
        if load["other_cores"] > OTHER_LOAD_WARNING:
            print(f"  warning: other processes used {load['other_cores']} cores on average")
        print(f"  -> {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
        return path


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return "-" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of ``rows`` (columns in first-seen order)."""
    if not rows:
        return "(no rows)"
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = found.group(1).strip() if found else ""
    memory_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.M)
        memory_kib = int(found.group(1)) if found else 0
    return {
        "cpus": os.cpu_count(),
        "parallel_capacity": parallel_capacity(),
        "cpu_model": model or platform.processor(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def _spin(loops: int) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(loops):
        total += i * i
    return time.perf_counter() - started


def parallel_capacity(loops: int = 3_000_000) -> float:
    """How many CPUs' worth of work the machine does with every CPU busy: the same loop
    run alone, then once per CPU at the same time (best of three). Virtual CPUs that are
    hyperthreads of one core (or a throttled VM) give well under the CPU count."""
    cpus = os.cpu_count() or 1
    alone: list[float] = []
    together: list[float] = []
    with multiprocessing.get_context("fork").Pool(cpus) as pool:
        for _ in range(3):
            alone.append(_spin(loops))
            together.append(statistics.mean(pool.map(_spin, [loops] * cpus)))
    return round(cpus * min(alone) / min(together), 2)


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (done.stdout or done.stderr).strip()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for package in ("celery", "kombu", "sqlalchemy", "psycopg", "redis", "requests"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    redis_server = _run([redis_binary(), "--version"])
    match = re.search(r"v=(\S+)", redis_server)
    found["redis-server"] = match.group(1) if match else redis_server
    try:
        from tests.support.services import postgres_bin_dir

        postgres = _run([str(postgres_bin_dir() / "postgres"), "--version"])
    except RuntimeError:
        postgres = "unavailable"
    match = re.search(r"PostgreSQL\) (\S+)", postgres)
    found["postgresql"] = match.group(1) if match else postgres
    return found


def code_version() -> dict[str, Any]:
    """The commit measured, and whether ``publisher/`` had uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    commit = _run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", str(root), "status", "--porcelain", "--", "publisher"])
    return {"commit": commit, "publisher_dirty": bool(dirty)}


def percentile(values: list[float], share: float) -> float:
    """The ``share`` (0..1) percentile, nearest-rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]
