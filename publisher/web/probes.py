"""What the overview asks outside the database, handed in from above.

The watchdog's check and the broker's queue live in the ops layer, above this one, so
whoever builds the app (``publisher web``) passes them in as a ``Probes``; without them
the overview shows those facts as unknown. The watchdog's verdict is cached for a few
seconds: it opens its own engine and decrypts every stored token, too much for every
refresh of every open page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from publisher.core.dashboard.health import BrokerQueue, Verdict

log = logging.getLogger(__name__)

# How long (s) one watchdog verdict is shown: the overview refreshes every 5 s and the
# watchdog's own cron runs every minute, so 10 s is fresh and costs one check per 10 s.
VERDICT_TTL = 10.0


def _no_verdict() -> Verdict | None:
    return None


@dataclass(frozen=True)
class Probes:
    watchdog: Callable[[], Verdict | None] = _no_verdict  # None: cannot tell
    broker: BrokerQueue | None = None  # None: queue depth unknown
    beat_limit: float | None = None  # seconds: a last sweep older than this, beat stopped


@dataclass
class CachedVerdict:
    """``check`` called at most once per ``ttl`` seconds; a check that raises (the
    database or Redis gone) is logged and answered None, never passed to the page."""

    check: Callable[[], Verdict]
    ttl: float = VERDICT_TTL
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _value: Verdict | None = field(default=None, repr=False)
    _until: float = field(default=float("-inf"), repr=False)

    def __call__(self) -> Verdict | None:
        with self._lock:  # one check at a time; the others wait for its answer
            if self.clock() >= self._until:
                self._value = self._checked()
                self._until = self.clock() + self.ttl
            return self._value

    def _checked(self) -> Verdict | None:
        try:
            return self.check()
        except Exception:  # a failure to report never breaks the page
            log.warning("the watchdog's check failed", exc_info=True)
            return None
