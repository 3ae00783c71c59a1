"""``control.PausesCache``: the worker reads the kill switches at most once per TTL, shared
by a process's threads, and obeys a switch turned on within that TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from publisher.core.control import PAUSED, PAUSED_PROVIDERS, Pauses, PausesCache


class FakeEngine:
    """Answers ``pauses``'s one query from ``rows``; counts the reads."""

    def __init__(self, delay: float = 0.0) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.reads = 0
        self.fail = False
        self.delay = delay
        self._lock = threading.Lock()

    @contextmanager
    def connect(self) -> Iterator[FakeEngine]:
        yield self

    def execute(self, _statement: object) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            self.reads += 1
        time.sleep(self.delay)  # a slow read: other threads arrive meanwhile
        if self.fail:
            raise ConnectionError("database down")
        return list(self.rows.items())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(clock: Clock, ttl: float = 1.0) -> PausesCache:
    return PausesCache(ttl=ttl, clock=clock)


def test_a_read_is_reused_until_its_ttl_is_over() -> None:
    engine, clock = FakeEngine(), Clock()
    cache = _cache(clock)
    assert cache.get(engine) == Pauses()  # type: ignore[arg-type]
    # When the operator pauses everything and x, within the TTL the old answer stands
    engine.rows = {PAUSED: {"paused": True}, PAUSED_PROVIDERS: {"x": {"by": "op"}}}
    clock.now += 0.99
    assert cache.get(engine) == Pauses()  # type: ignore[arg-type]
    assert engine.reads == 1
    # Then once the TTL is over the switches are read again and obeyed
    clock.now += 0.01
    assert cache.get(engine) == Pauses(True, frozenset({"x"}))  # type: ignore[arg-type]
    assert engine.reads == 2


def test_a_failed_read_is_not_cached() -> None:
    engine, clock = FakeEngine(), Clock()
    cache = _cache(clock)
    engine.fail = True
    with pytest.raises(ConnectionError):
        cache.get(engine)  # type: ignore[arg-type]
    engine.fail = False
    engine.rows = {PAUSED: {"paused": True}}
    assert cache.get(engine).everything  # type: ignore[arg-type]
    assert engine.reads == 2


def test_threads_share_one_read() -> None:
    # Given 32 threads (a worker's thread pool) asking at once while the read is slow
    engine = FakeEngine(delay=0.05)
    engine.rows = {PAUSED_PROVIDERS: {"mastodon": {}}}
    cache = PausesCache(ttl=60.0)
    start = threading.Barrier(32)
    answers: list[Pauses] = []

    def ask() -> None:
        start.wait()
        answers.append(cache.get(engine))  # type: ignore[arg-type]

    threads = [threading.Thread(target=ask) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the database was read once, and every thread got that answer
    assert engine.reads == 1
    assert answers == [Pauses(False, frozenset({"mastodon"}))] * 32
