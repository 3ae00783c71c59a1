"""Beat's scheduler: redbeat (schedule and single-beat lock in Redis) that heals itself.

redbeat writes the sweep's entry to Redis once, at start-up. If Redis loses its data
after that (a restart without persistence, a flush), beat would keep its lock and tick on
forever without sweeping. This scheduler checks, every tick, that the static entries are
still stored and writes back any that are missing, so the sweep resumes by itself.
"""

from __future__ import annotations

import logging
from typing import Any

from redbeat.schedulers import RedBeatScheduler, get_redis

log = logging.getLogger(__name__)


class HealingRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    def tick(self, *args: Any, **kwargs: Any) -> float:
        self._restore_missing_entries()
        interval: float = super().tick(*args, **kwargs)
        return interval

    def _restore_missing_entries(self) -> None:
        schedule = self.app.redbeat_conf.schedule
        if not schedule:
            return
        try:
            client = get_redis(self.app)
            missing = [
                name
                for name in schedule
                if not client.hexists(self.Entry.generate_key(self.app, name), "definition")
            ]
            if missing:
                log.warning("beat: schedule entries %s were missing from Redis; restoring", missing)
                self.update_from_dict({name: schedule[name] for name in missing})
        except Exception:  # Redis is down: the tick fails too, and beat's restart heals it
            log.warning("beat: could not check the schedule entries", exc_info=True)
