"""Per-credential concurrency: at most N provider calls in flight on one credential at
once, across every worker process and machine.

The worker takes a ``Slot`` on the post's credential after the claim and before its first
request, and gives it back once the attempt is recorded; a post that finds no free slot is
released (no attempt used) to try again in ``busy_wait()`` seconds. A slot is leased like
the post: it expires by itself ``lease`` seconds after it was taken or last renewed, so a
worker that died holding one blocks the credential no longer than its lease.

``RedisLimiter`` keeps the slots in the broker's Redis, which every worker reaches
already: one sorted set per credential, each member a holder scored by its expiry, taken
and renewed by Lua scripts that first drop the expired members, all on Redis's clock.
``LocalLimiter`` keeps them in memory, for one process (tests, tools).

A credential's **hold** (a 429 told us to wait until a time) travels with its slots: the
worker that met the 429 records the hold in the database, then here, then gives its slot
back; whoever takes a slot next is told ``Held`` instead, in the same round trip, so no
call goes out between a 429 and its reset even when the next worker read the credential
before the hold was written. (A hold lost with a Redis restart is still in the database,
which every claim reads.)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis

log = logging.getLogger(__name__)

# The Redis keys of a credential's slots and hold; every key publisher writes starts
# "publisher:".
SLOT_KEY = "publisher:credential:{}:slots"
HOLD_KEY = "publisher:credential:{}:hold"

# A post whose credential is busy tries again this many seconds later, jittered up to
# twice that so a burst of one credential's posts does not come back in lock step: about
# the time one provider call takes, so the slot is likely free by then.
BUSY_WAIT = 1.0

# Redis TIME in milliseconds; scripts are replicated by their effects (Redis >= 5), so a
# script may read the clock before it writes.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# The key lives as long as its longest slot, so an idle credential leaves nothing behind.
_KEEP_KEY = """
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
"""
# KEYS[1]: the credential's slots, KEYS[2]: its hold. ARGV: limit, lease (ms), holder.
# 1: taken, 0: full, a string: held until that time (epoch ms).
_ACQUIRE = (
    _NOW_MS
    + """
local held = redis.call('GET', KEYS[2])
if held then return held end
local limit, lease, holder = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + lease, holder)
"""
    + _KEEP_KEY
    + "return 1"
)
# KEYS[1]: the credential's slots. ARGV: lease (ms), holder. 1: renewed, 0: not held.
_RENEW = (
    _NOW_MS
    + """
local lease, holder = tonumber(ARGV[1]), ARGV[2]
local expires = redis.call('ZSCORE', KEYS[1], holder)
if not expires or tonumber(expires) <= now then
    redis.call('ZREM', KEYS[1], holder)
    return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + lease, holder)
"""
    + _KEEP_KEY
    + "return 1"
)


@dataclass(frozen=True)
class Slot:
    """One call slot held on a credential."""

    credential_id: int
    holder: str  # unique to this taking of the slot


@dataclass(frozen=True)
class Held:
    """No slot: the credential is held (rate-limited) until ``until``."""

    until: datetime


class Limiter(Protocol):
    """Call slots per credential, shared by every process that publishes."""

    def acquire(
        self, credential_id: int, limit: int, holder: str, lease: float
    ) -> Slot | Held | None:
        """A slot on the credential for ``lease`` seconds; ``Held`` when the credential is
        held; None when ``limit`` slots are taken (or the limiter cannot tell: never more
        than ``limit``). Never raises."""
        ...

    def hold(self, credential_id: int, until: datetime) -> None:
        """Until ``until``, ``acquire`` on the credential answers ``Held``. Never raises."""
        ...

    def renew(self, slot: Slot, lease: float) -> bool:
        """Extends ``slot`` to ``lease`` seconds from now; False if it expired. Never raises."""
        ...

    def release(self, slot: Slot) -> None:
        """Gives ``slot`` back (nothing if it already expired). Never raises."""
        ...


def busy_wait(rng: random.Random | None = None) -> float:
    """Seconds a post whose credential is busy waits before trying again."""
    return (rng or random).uniform(BUSY_WAIT, 2 * BUSY_WAIT)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisLimiter:
    """Slots in Redis, shared by every worker on every machine. When Redis cannot be
    reached no slot is given (the post waits and tries again): the limit is a promise to
    the provider, and a worker without Redis receives no messages anyway."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)

    def acquire(
        self, credential_id: int, limit: int, holder: str, lease: float
    ) -> Slot | Held | None:
        keys = [SLOT_KEY.format(credential_id), HOLD_KEY.format(credential_id)]
        try:
            taken = self._acquire(keys=keys, args=[limit, _ms(lease), holder])
        except redis.RedisError:
            log.warning("credential %s: no slot, Redis failed", credential_id, exc_info=True)
            return None
        if isinstance(taken, bytes):
            return Held(datetime.fromtimestamp(int(taken) / 1000, UTC))
        return Slot(credential_id, holder) if taken == 1 else None

    def hold(self, credential_id: int, until: datetime) -> None:
        left = _ms((until - datetime.now(UTC)).total_seconds())
        stamp = int(until.timestamp() * 1000)
        try:
            self._client.set(HOLD_KEY.format(credential_id), stamp, px=left)
        except redis.RedisError:  # the database has it: claims from now on see it
            log.warning("credential %s: hold not shared", credential_id, exc_info=True)

    def renew(self, slot: Slot, lease: float) -> bool:
        key = SLOT_KEY.format(slot.credential_id)
        try:
            return bool(self._renew(keys=[key], args=[_ms(lease), slot.holder]) == 1)
        except redis.RedisError:
            log.warning("credential %s: slot not renewed", slot.credential_id, exc_info=True)
            return False

    def release(self, slot: Slot) -> None:
        try:
            self._client.zrem(SLOT_KEY.format(slot.credential_id), slot.holder)
        except redis.RedisError:  # it expires with its lease
            log.warning("credential %s: slot not released", slot.credential_id, exc_info=True)


class LocalLimiter:
    """Slots in this process's memory: the limit holds among its threads only. For tests
    and single-process tools; ``clock`` (monotonic seconds) is injectable."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[int, dict[str, float]] = {}  # credential -> holder -> expiry
        self._holds: dict[int, datetime] = {}  # credential -> held until

    def _live(self, credential_id: int) -> dict[str, float]:
        now = self._clock()
        slots = self._slots.setdefault(credential_id, {})
        for holder in [h for h, expires in slots.items() if expires <= now]:
            del slots[holder]
        return slots

    def acquire(
        self, credential_id: int, limit: int, holder: str, lease: float
    ) -> Slot | Held | None:
        with self._lock:
            held = self._holds.get(credential_id)
            if held is not None and held > datetime.now(UTC):
                return Held(held)
            self._holds.pop(credential_id, None)  # an ended hold is forgotten
            slots = self._live(credential_id)
            if len(slots) >= limit:
                return None
            slots[holder] = self._clock() + lease
            return Slot(credential_id, holder)

    def renew(self, slot: Slot, lease: float) -> bool:
        with self._lock:
            slots = self._live(slot.credential_id)
            if slot.holder not in slots:
                return False
            slots[slot.holder] = self._clock() + lease
            return True

    def release(self, slot: Slot) -> None:
        with self._lock:
            self._slots.get(slot.credential_id, {}).pop(slot.holder, None)

    def hold(self, credential_id: int, until: datetime) -> None:
        with self._lock:
            self._holds[credential_id] = until
