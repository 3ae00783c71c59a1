"""CPU time spent by each component during a measured window.

On a small machine every component competes for the same cores, so a rate alone does not
say where the time went. ``CpuMeter`` snapshots the user+system time of each component's
processes (a threads-pool worker is one process, all its threads counted; the PostgreSQL
postmaster with its backends; Redis; this process with the sandbox's threads) and
reports the difference. ``Interference`` measures what the rest of the machine used
meanwhile, which every result records as its ``load``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import psutil

Pids = Callable[[], list[int]]  # the processes that make up one component, right now


def family(pid: int | None) -> list[int]:
    """``pid`` and all its descendants (empty if it is gone or None)."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def itself() -> list[int]:
    """This process alone: the driver and the sandbox's threads (not its child servers)."""
    return [os.getpid()]


def _times(pids: list[int]) -> dict[int, float]:
    times: dict[int, float] = {}
    for pid in pids:
        try:
            cpu = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        times[pid] = cpu.user + cpu.system
    return times


class CpuMeter:
    """``start()``, run the workload, ``stop()`` -> CPU seconds per component."""

    def __init__(self, components: Mapping[str, Pids]) -> None:
        self.components = dict(components)
        self._before: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._before = {name: _times(pids()) for name, pids in self.components.items()}

    def stop(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        for name, pids in self.components.items():
            before = self._before.get(name, {})
            after = _times(pids())
            spent[name] = sum(t - before.get(pid, 0.0) for pid, t in after.items())
        return spent


class Interference:
    """Samples, once a second in a thread, the CPU used by processes that are not this one
    or its descendants: other jobs on a shared machine that skew the figures."""

    def __init__(self, every: float = 1.0) -> None:
        import threading

        self.every = every
        self.other_seconds = 0.0
        self.ours_seconds = 0.0
        self.wall_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="interference", daemon=True)
        self._last: dict[int, float] = {}

    def start(self) -> Interference:
        self._last = self._sample()[0]
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(timeout=5)
        cores = os.cpu_count() or 1
        wall = max(self.wall_seconds, 1e-9)
        return {
            "other_cores": round(self.other_seconds / wall, 2),
            "ours_cores": round(self.ours_seconds / wall, 2),
            "capacity_cores": cores,
        }

    def _sample(self) -> tuple[dict[int, float], set[int]]:
        ours = set(family(os.getpid()))
        times: dict[int, float] = {}
        for process in psutil.process_iter(["cpu_times"]):
            cpu = process.info["cpu_times"]
            if cpu is not None:
                times[process.pid] = cpu.user + cpu.system
        return times, ours

    def _loop(self) -> None:
        import time

        last_at = time.monotonic()
        while not self._stop.wait(self.every):
            times, ours = self._sample()
            now = time.monotonic()
            self.wall_seconds += now - last_at
            last_at = now
            for pid, spent in times.items():
                delta = max(0.0, spent - self._last.get(pid, 0.0))
                if pid in ours:
                    self.ours_seconds += delta
                else:
                    self.other_seconds += delta
            self._last = times
