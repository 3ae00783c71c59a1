"""How many requests the sandbox is serving at once, per (method, path, bearer token).

A test reads the high-water mark to check a client's concurrency limit from the provider's
side: ``peak("POST", "/api/v1/statuses", token) == 1`` means no two creates by that token
were ever in flight together. A request counts from the moment its body is read until its
answer is written (or its connection reset), so a slow answer keeps it in flight.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

Key = tuple[str, str, str | None]  # method, path without the query, bearer token


class InFlight:
    """Counts requests in flight per key, with each key's high-water mark; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: Counter[Key] = Counter()
        self._peak: Counter[Key] = Counter()

    @contextmanager
    def serving(self, key: Key) -> Iterator[None]:
        """Counts one request under ``key`` for the duration of the block."""
        with self._lock:
            self._now[key] += 1
            self._peak[key] = max(self._peak[key], self._now[key])
        try:
            yield
        finally:
            with self._lock:
                self._now[key] -= 1

    def peak(self, method: str, path: str, token: str | None) -> int:
        """The most requests under this key ever in flight at once (0: none seen)."""
        with self._lock:
            return self._peak[(method, path, token)]

    def clear(self) -> None:
        """Forgets the high-water marks (requests still in flight keep counting)."""
        with self._lock:
            self._peak = Counter({key: n for key, n in self._now.items() if n > 0})
