"""Call slots per credential (pure logic, on ``LocalLimiter`` and a fake clock), and what
the worker does without a slot (``plan.busy``). ``RedisLimiter`` is held to the same
contract on a real Redis in ``tests/integration/test_concurrency.py``."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from publisher.core.settings import Settings
from publisher.engine.concurrency import BUSY_WAIT, LocalLimiter, Slot, busy_wait
from publisher.engine.plan import Action, busy
from tests.unit.test_plan import JOB, NOW


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> LocalLimiter:
    return LocalLimiter(clock)


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_at_most_limit_slots_per_credential(limiter: LocalLimiter, limit: int) -> None:
    taken = [limiter.acquire(7, limit, f"h{n}", 60) for n in range(limit)]
    assert all(slot is not None for slot in taken)
    assert limiter.acquire(7, limit, "one too many", 60) is None
    # other credentials have their own slots
    assert limiter.acquire(8, limit, "other", 60) is not None


def test_a_released_slot_is_free_again(limiter: LocalLimiter) -> None:
    slot = limiter.acquire(7, 1, "first", 60)
    assert slot is not None and limiter.acquire(7, 1, "second", 60) is None
    limiter.release(slot)
    assert limiter.acquire(7, 1, "second", 60) is not None
    limiter.release(slot)  # twice: harmless, the second holder keeps its slot
    assert limiter.acquire(7, 1, "third", 60) is None


def test_a_slot_whose_holder_died_frees_itself_after_its_lease(
    limiter: LocalLimiter, clock: Clock
) -> None:
    # Given a holder that never gives its slot back
    assert limiter.acquire(7, 1, "dead", 30) is not None
    clock.now += 29.9
    assert limiter.acquire(7, 1, "waiting", 30) is None
    # Then the slot is free once the lease has run out
    clock.now += 0.1
    assert limiter.acquire(7, 1, "waiting", 30) is not None


def test_renewing_extends_the_lease(limiter: LocalLimiter, clock: Clock) -> None:
    slot = limiter.acquire(7, 1, "busy", 30)
    assert slot is not None
    clock.now += 20
    assert limiter.renew(slot, 30)
    clock.now += 20  # 40 s after taking it, 20 s after renewing
    assert limiter.acquire(7, 1, "waiting", 30) is None
    clock.now += 10
    assert not limiter.renew(slot, 30)  # expired: it is not given back by renewing
    assert limiter.acquire(7, 1, "waiting", 30) is not None


def test_busy_wait_is_short_and_spread() -> None:
    rng = random.Random(3)
    waits = [busy_wait(rng) for _ in range(100)]
    assert all(BUSY_WAIT <= wait <= 2 * BUSY_WAIT for wait in waits)
    assert len(set(waits)) > 1


def test_busy_releases_the_post_soon_without_using_an_attempt() -> None:
    job = replace(JOB, ambiguous=True, unconfirmed_since=NOW - timedelta(minutes=5))
    decided = busy(job, NOW, 1.5)
    assert decided.action is Action.RELEASE  # act refunds the attempt
    assert decided.next_run_at == NOW + timedelta(seconds=1.5)
    # an ambiguous post stays ambiguous and keeps waiting for confirmation since then
    assert decided.ambiguous and decided.unconfirmed_since == job.unconfirmed_since


@pytest.mark.parametrize(("raw", "expected"), [(None, 1), ("1", 1), ("4", 4)])
def test_credential_concurrency_setting(raw: str | None, expected: int) -> None:
    env = {} if raw is None else {"PUBLISHER_CREDENTIAL_CONCURRENCY": raw}
    assert Settings.from_env(env).credential_concurrency == expected


def test_credential_concurrency_must_be_positive() -> None:
    from publisher.errors import ConfigError

    with pytest.raises(ConfigError, match="PUBLISHER_CREDENTIAL_CONCURRENCY must be >= 1"):
        Settings.from_env({"PUBLISHER_CREDENTIAL_CONCURRENCY": "0"})


def test_an_ended_hold_is_forgotten(limiter: LocalLimiter) -> None:
    # Given a credential held until a moment already past
    limiter.hold(7, datetime.now(UTC) - timedelta(seconds=1))
    # When a slot is asked for, it is given, and the hold is no longer kept
    assert isinstance(limiter.acquire(7, 1, "a", 10.0), Slot)
    assert 7 not in limiter._holds
