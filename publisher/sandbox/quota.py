"""Rate-limit windows the sandbox reports but never enforces (a 429 comes only from a
fault): X sends ``x-rate-limit-limit``/``-remaining``/``-reset`` on every response, per
user and endpoint, over 15-minute windows (https://docs.x.com/x-api/fundamentals/rate-limits).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable
from datetime import datetime

WINDOW_SECONDS = 15 * 60  # X's usual window


class Quota:
    """Counts requests per key in fixed windows; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: Counter[Hashable] = Counter()

    def take(self, key: Hashable, now: datetime) -> tuple[int, int]:
        """Counts one request under ``key`` at ``now``: (requests in this window so far,
        this one included; when the window resets, in epoch seconds)."""
        window = int(now.timestamp()) // WINDOW_SECONDS
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts.clear()
            self._counts[key] += 1
            return self._counts[key], (window + 1) * WINDOW_SECONDS

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
