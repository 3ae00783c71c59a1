"""``RedisLimiter`` on a real redis-server: the call-slot contract across clients and
processes, a slot whose holder was killed frees itself after its lease, and no slot is
given while Redis is down."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import redis

from publisher.engine.concurrency import HOLD_KEY, SLOT_KEY, Held, RedisLimiter, Slot
from tests.support.pipeline import wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# A process that takes one slot, says so, then waits to be killed.
HOLDER = """
import sys, time, redis
from publisher.engine.concurrency import RedisLimiter
limiter = RedisLimiter(redis.Redis.from_url(sys.argv[1]))
slot = limiter.acquire(7, 1, "doomed-holder", float(sys.argv[2]))
print("held" if slot else "refused", flush=True)
time.sleep(600)
"""


def test_at_most_limit_slots_across_clients(redis_server: RedisServer, client: redis.Redis) -> None:
    # Given two limiters on their own connections, as two worker processes would have
    one, two = RedisLimiter(client), RedisLimiter(redis.Redis.from_url(redis_server.url))
    first = one.acquire(7, 2, "a", 60)
    second = two.acquire(7, 2, "b", 60)
    # Then a third slot on the credential is refused, while other credentials are free
    assert first is not None and second is not None
    assert one.acquire(7, 2, "c", 60) is None and two.acquire(7, 2, "c", 60) is None
    assert two.acquire(8, 2, "c", 60) is not None
    # And a released slot can be taken by the other process
    one.release(first)
    assert two.acquire(7, 2, "c", 60) is not None
    assert client.zcard(SLOT_KEY.format(7)) == 2


def test_renew_keeps_a_live_slot_and_refuses_an_expired_one(client: redis.Redis) -> None:
    limiter = RedisLimiter(client)
    slot = limiter.acquire(7, 1, "a", 60)
    assert slot is not None and limiter.renew(slot, 60)
    client.zadd(SLOT_KEY.format(7), {"a": 0})  # as if it expired long ago
    assert not limiter.renew(slot, 60)
    assert limiter.acquire(7, 1, "b", 60) is not None


def test_a_hold_answers_held_until_it_ends_then_slots_are_given_again(
    client: redis.Redis,
) -> None:
    # Given a credential held for 1.5 s (a 429 met by another worker)
    limiter = RedisLimiter(client)
    until = datetime.now(UTC) + timedelta(seconds=1.5)
    limiter.hold(7, until)
    # Then no slot is given on it, and the answer says until when
    taken = limiter.acquire(7, 5, "a", 60)
    assert isinstance(taken, Held) and abs(taken.until - until) < timedelta(milliseconds=2)
    assert client.zcard(SLOT_KEY.format(7)) == 0
    # While other credentials are free
    assert isinstance(limiter.acquire(8, 5, "a", 60), Slot)
    # And once the hold ends, the credential's slots are given again
    wait_for(lambda: isinstance(limiter.acquire(7, 5, "b", 60), Slot), 10)
    assert client.exists(HOLD_KEY.format(7)) == 0


def test_the_key_expires_with_its_longest_slot(client: redis.Redis) -> None:
    limiter = RedisLimiter(client)
    assert limiter.acquire(7, 3, "a", 30) is not None
    assert limiter.acquire(7, 3, "b", 90) is not None
    assert limiter.acquire(7, 3, "c", 10) is not None
    assert 30_000 < client.pttl(SLOT_KEY.format(7)) <= 90_000


def test_a_killed_holders_slot_frees_itself_after_its_lease(
    redis_server: RedisServer, client: redis.Redis
) -> None:
    # Given a process that took the credential's only slot for 5 s, then was killed
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_server.url, "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    finally:
        holder.kill()
        holder.wait()
    limiter = RedisLimiter(client)
    # Then the slot is not free at once (its lease runs on)
    assert limiter.acquire(7, 1, "next", 5) is None
    # And it frees itself once the lease has run out: the credential is not blocked
    taken = wait_for(lambda: limiter.acquire(7, 1, "next", 5), timeout=30)
    assert taken.holder == "next"


def test_no_slot_while_redis_is_down() -> None:
    # Nothing listens on this port: the limiter refuses instead of raising
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.5)
    limiter = RedisLimiter(unreachable)
    assert limiter.acquire(7, 1, "a", 60) is None
