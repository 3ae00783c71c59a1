"""Beat's scheduler: redbeat (schedule and single-beat lock in Redis) that heals itself.

redbeat writes the sweep's entry to Redis once, at start-up. If Redis loses its data
after that (a restart without persistence, a flush), beat would keep its lock and tick on
forever without sweeping. This scheduler checks, every tick, that the static entries are
still stored and writes back any that are missing, so the sweep resumes by itself.

It also rides out the broker going away. redbeat 2.x (checked: 2.4.2) lets every Redis
error in a tick escape, and celery beat exits on any exception from a tick: a Redis
restart ends beat with ``ConnectionError``, or, once Redis is back without the lock key,
with ``LockNotOwnedError: Cannot extend a lock that's no longer owned`` (sibson/redbeat
#230, #218; #129 and #223 for the same on release). Here a tick that cannot reach Redis
waits and tries again, and a beat whose lock is gone takes it again if it is free, or
stands by (sending nothing) while another beat holds it.
"""

from __future__ import annotations

import logging
from typing import Any

from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatScheduler, get_redis
from redis.exceptions import ConnectionError, LockError, TimeoutError

log = logging.getLogger(__name__)

# Seconds between ticks while Redis does not answer: short, so beat sweeps again within
# moments of Redis coming back; each failed try costs one connection attempt.
REDIS_DOWN_RETRY = 1.0
REDIS_DOWN = (ConnectionError, TimeoutError)


class HealingRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    lock: Any  # redis-py's Lock; None until acquired
    _standing_by = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One tick; never raises for Redis being away or the lock being lost."""
        try:
            if self.lock_key and not self._hold_lock():
                return float(self.max_interval)  # another beat is active: stand by
            self._restore_missing_entries()
            interval: float = super().tick(*args, **kwargs)
            return interval
        except REDIS_DOWN as exc:
            log.warning("beat: Redis unavailable (%s); retrying in %.0f s", exc, REDIS_DOWN_RETRY)
            return REDIS_DOWN_RETRY
        except LockError as exc:  # the lock expired between the check and the extension
            log.warning("beat: lost the lock (%s); trying again", exc)
            return REDIS_DOWN_RETRY

    def _hold_lock(self) -> bool:
        """True while this beat holds the single-beat lock, taking it again when free."""
        if self.lock is None:  # Redis was down when beat started: redbeat gave up on it
            client = get_redis(self.app)
            lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
            # redbeat's extension sets the expiry (redis-py's would add to it)
            lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
            self.lock = lock
        elif self.lock.owned():
            return True
        if self.lock.acquire(blocking=False):
            log.warning("beat: (re)acquired the lock (Redis restarted or the lock expired)")
            self._standing_by = False
            return True
        if not self._standing_by:
            log.warning("beat: another beat holds the lock; standing by")
            self._standing_by = True
        return False

    def _restore_missing_entries(self) -> None:
        schedule = self.app.redbeat_conf.schedule
        if not schedule:
            return
        client = get_redis(self.app)
        missing = [
            name
            for name in schedule
            if not client.hexists(self.Entry.generate_key(self.app, name), "definition")
        ]
        if missing:
            log.warning("beat: schedule entries %s were missing from Redis; restoring", missing)
            self.update_from_dict({name: schedule[name] for name in missing})
