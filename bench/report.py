"""Results: a table on stdout and ``bench/results/<name>.json`` with the machine, the
software versions, the commit of the whole tree (and whether it was dirty), the load
other processes put on the machine, the parameters, the figures and each target's
verdict with every round it rests on. ``bench.docs`` renders ``docs/benchmarks.md`` from
these files."""

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
from bench.provenance import Code
from bench.tables import cell as _cell
from bench.tables import table
from bench.verdict import MET, MISSED, NOT_MEASURED, Goal, as_met, judge
from publisher.ops.embedded_redis import redis_binary

RESULTS = Path(__file__).parent / "results"
QUICK = RESULTS / "quick"  # --quick runs: never over the full results
OTHER_LOAD_WARNING = 0.2  # cores used by other jobs beyond which the figures are suspect


def result_path(name: str, tag: str = "", quick: bool = False) -> Path:
    """Where a run's JSON goes: ``results/<name>[-tag].json``, or under ``results/quick/``
    for a ``--quick`` run, so a quick run never replaces a full one."""
    folder = QUICK if quick else RESULTS
    return folder / (f"{name}-{tag}.json" if tag else f"{name}.json")


@dataclass
class Target:
    name: str
    goal: str  # e.g. ">= 0.8x bare"
    value: float | None  # the median of the rounds (the single value with one round)
    met: bool | None  # None: inconclusive or not measured in this run
    note: str = ""
    verdict: str = ""  # met, missed, inconclusive, not measured (see bench.verdict)
    rounds: list[float] = field(default_factory=list)  # every round's value, in order

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = {True: MET, False: MISSED, None: NOT_MEASURED}[self.met]


@dataclass
class Report:
    name: str
    params: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # query plans, samples, logs
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # titled sub-tables
    load: Interference = field(default_factory=lambda: Interference().start())

    def row(self, **values: Any) -> None:
        self.rows.append(values)

    def table(self, title: str, **values: Any) -> None:
        """A row of the sub-table ``title`` (printed and rendered after the main table)."""
        self.tables.setdefault(title, []).append(values)

    def target(
        self, name: str, goal: str, value: float | None, met: bool | None, note: str = ""
    ) -> None:
        """A target judged on one value (a count, a single run)."""
        rounds = [] if value is None else [value]
        self.targets.append(Target(name, goal, value, met, note, rounds=rounds))

    def judge(self, name: str, goal: Goal, rounds: list[float], note: str = "") -> str:
        """A target judged on every round (``bench.verdict.judge``); returns the verdict."""
        word = judge(rounds, goal)
        value = statistics.median(rounds) if rounds else None
        self.targets.append(Target(name, str(goal), value, as_met(word), note, word, rounds))
        return word

    def finish(self, code: Code, quick: bool = False, tag: str = "") -> Path:
        """Print the table and the verdicts, write the JSON (see ``result_path``)."""
        load = self.load.stop()
        print(f"\n== {self.name} ==  {_params(self.params)}")
        print(table(self.rows))
        for title, rows in self.tables.items():
            print(f"\n{title}\n{table(rows)}")
        for t in self.targets:
            value = "-" if t.value is None else _cell(t.value)
            spread = f" rounds {' '.join(_cell(r) for r in t.rounds)}" if len(t.rounds) > 1 else ""
            note = f"  ({t.note})" if t.note else ""
            print(f"  target {t.name}: {t.goal} -> {value}{spread}  {t.verdict.upper()}{note}")
        document = {
            "name": self.name,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": quick,
            "dirty": code.dirty,
            "code": code.as_json(),
            "machine": machine(),
            "versions": versions(),
            "load": load,
            "params": self.params,
            "rows": self.rows,
            "tables": self.tables,
            "targets": [asdict(t) for t in self.targets],
            "extra": self.extra,
        }
        path = result_path(self.name, tag, quick)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(document, indent=2, default=str) + "\n")
        partial.replace(path)
        print(f"  measured at {code.commit[:10]}" + (" on a DIRTY tree" if code.dirty else ""))
        print(f"  load: other processes used {load['other_cores']} cores on average", end="")
        print("  (figures suspect)" if load["other_cores"] > OTHER_LOAD_WARNING else "")
        print(f"  -> {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
        return path


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


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


def percentile(values: list[float], share: float) -> float:
    """The ``share`` (0..1) percentile, nearest-rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]
