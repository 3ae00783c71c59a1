"""The dashboard's view of the ops layer: the watchdog's verdict, the broker's queue and
beat's heartbeat limit, built here and handed down to the web layer (which may not import
ops) when ``publisher web`` builds its app.
"""

from __future__ import annotations

import redis

from publisher.core.dashboard.health import BrokerQueue
from publisher.core.settings import Settings
from publisher.ops import watchdog
from publisher.ops.constants import QUEUE
from publisher.web.probes import CachedVerdict, Probes

# Seconds the overview waits for Redis before showing the queue depth as unknown: a
# page must answer promptly while Redis is down.
REDIS_TIMEOUT = 1.0


def probes(settings: Settings) -> Probes:
    """What the overview asks outside the database, for ``settings``' pipeline."""
    client = redis.Redis.from_url(
        settings.redis_client_url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
    )
    return Probes(
        watchdog=CachedVerdict(lambda: watchdog.check(settings)),
        broker=BrokerQueue(client, QUEUE),
        beat_limit=watchdog.HEARTBEAT_INTERVALS * settings.sweep_interval,
    )
