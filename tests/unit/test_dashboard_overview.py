"""The overview's pure logic: beat's verdict from the health facts, the watchdog's
verdict cached (and a failing check answered None), the posts list's links."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from publisher.core.dashboard.health import BeatVerdict, Health, beat_verdict
from publisher.core.states import DUE_STATES, State
from publisher.web.overview import posts_link
from publisher.web.probes import CachedVerdict

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Verdict:
    healthy: bool = True
    schedule_entry: bool | None = True
    problems: list[str] = field(default_factory=list)


def _health(age: float | None, entry: bool | None = True) -> Health:
    return Health(
        now=NOW,
        last_sweep_at=None if age is None else NOW,
        last_sweep_age=age,
        last_sweep={},
        watchdog=Verdict(schedule_entry=entry),
        switches=(),
        queue_depth=None,
        workers=(),
        oldest_due_at=None,
        oldest_due_age=None,
    )


@pytest.mark.parametrize(
    ("age", "entry", "limit", "ok", "says"),
    [
        (2.0, True, 30.0, True, "sweeping"),
        (30.0, True, 30.0, True, "sweeping"),  # at the limit: still fresh
        (31.0, True, 30.0, False, "is beat running?"),
        (None, True, 30.0, False, "no sweep has ever run"),
        (2.0, False, 30.0, False, "schedule entry is missing"),
        (2.0, None, 30.0, True, "sweeping"),  # Redis not asked: the heartbeat decides
        (2.0, True, None, None, "no limit known"),
    ],
)
def test_beat_verdict(
    age: float | None, entry: bool | None, limit: float | None, ok: bool | None, says: str
) -> None:
    found = beat_verdict(_health(age, entry), limit)
    assert found.ok is ok and says in found.text


def test_beat_verdict_without_a_watchdog_reads_the_heartbeat() -> None:
    found = replace(_health(100.0), watchdog=None)
    assert beat_verdict(found, 30.0) == BeatVerdict(False, found_text(100, 30))


def found_text(age: int, limit: int) -> str:
    return f"last sweep {age} s ago (limit {limit} s): is beat running?"


def test_the_watchdog_is_asked_once_per_ttl() -> None:
    calls: list[int] = []
    now = [0.0]

    def check() -> Verdict:
        calls.append(1)
        return Verdict(healthy=len(calls) == 1)

    cached = CachedVerdict(check, ttl=10.0, clock=lambda: now[0])
    first = cached()
    now[0] = 9.9
    assert cached() is first and len(calls) == 1
    now[0] = 10.0
    second = cached()
    assert second is not None and not second.healthy and len(calls) == 2


def test_a_failing_watchdog_check_is_unknown_not_an_error() -> None:
    def check() -> Verdict:
        raise ConnectionError("database gone")

    assert CachedVerdict(check)() is None


def test_posts_links_filter_by_state() -> None:
    assert posts_link((State.DRAFT,)) == "/dashboard/posts?state=draft"
    assert posts_link(DUE_STATES) == "/dashboard/posts?state=approved&state=retry"
