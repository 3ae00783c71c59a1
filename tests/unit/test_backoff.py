"""The retry-delay policy and the provider's own "not before" headers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from publisher.core.models import Backoff
from publisher.engine.backoff import DEFAULT, delay, earliest_from_headers

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_default_is_exponential() -> None:
    assert DEFAULT is Backoff.EXPONENTIAL
    assert Backoff("linear") is Backoff.LINEAR


@pytest.mark.parametrize(
    ("attempt", "nominal"),
    [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 100.0), (50, 100.0), (5000, 100.0)],
)
def test_exponential_uses_equal_jitter_below_the_cap(attempt: int, nominal: float) -> None:
    rng = random.Random(attempt)
    delays = [delay(Backoff.EXPONENTIAL, attempt, 10.0, 100.0, rng) for _ in range(200)]
    assert all(nominal / 2 <= d <= nominal for d in delays)
    assert len(set(delays)) > 1  # jittered


def test_exponential_is_reproducible_with_a_seeded_rng() -> None:
    first = delay(Backoff.EXPONENTIAL, 3, 1.0, 60.0, random.Random(7))
    second = delay(Backoff.EXPONENTIAL, 3, 1.0, 60.0, random.Random(7))
    assert first == second


def test_exponential_without_rng_stays_in_range() -> None:
    assert 2.0 <= delay(Backoff.EXPONENTIAL, 2, 2.0, 60.0) <= 4.0


@pytest.mark.parametrize(
    ("policy", "attempt", "expected"),
    [
        (Backoff.LINEAR, 1, 5.0),
        (Backoff.LINEAR, 3, 15.0),
        (Backoff.LINEAR, 100, 60.0),  # capped
        (Backoff.CONSTANT, 1, 5.0),
        (Backoff.CONSTANT, 100, 5.0),
    ],
)
def test_linear_and_constant_have_no_jitter(policy: Backoff, attempt: int, expected: float) -> None:
    assert delay(policy, attempt, 5.0, 60.0, random.Random(1)) == expected


@pytest.mark.parametrize(
    ("attempt", "base", "cap"), [(0, 1.0, 10.0), (1, -1.0, 10.0), (1, 1.0, -1)]
)
def test_rejects_nonsense(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        delay(Backoff.EXPONENTIAL, attempt, base, cap)


AT_12_10 = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)  # epoch 1714565400
CAP = NOW + timedelta(hours=1)  # HEADER_CAP, the default of PUBLISHER_RETRY_AFTER_MAX


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        # Retry-After: delta seconds or HTTP-date, any case
        ({"Retry-After": "120"}, NOW + timedelta(seconds=120)),
        ({"retry-after": " 0 "}, NOW),
        ({"RETRY-AFTER": "1.5"}, NOW + timedelta(seconds=1.5)),
        ({"Retry-After": "Wed, 01 May 2024 12:05:00 GMT"}, NOW + timedelta(minutes=5)),
        ({"Retry-After": "Wed, 01 May 2024 12:05:00 -0000"}, NOW + timedelta(minutes=5)),
        # Mastodon: X-RateLimit-Reset, ISO 8601 (also taken as epoch seconds by shape)
        ({"X-RateLimit-Reset": "2024-05-01T12:10:00.000Z"}, AT_12_10),
        ({"X-RateLimit-Reset": "2024-05-01T12:10:00.019685Z"}, AT_12_10.replace(microsecond=19685)),
        ({"x-ratelimit-reset": "2024-05-01T14:10:00+02:00"}, AT_12_10),
        ({"X-RateLimit-Reset": "2024-05-01T12:10:00"}, AT_12_10),
        ({"X-RateLimit-Reset": "1714565400"}, AT_12_10),
        # X: x-rate-limit-reset, epoch seconds, any case
        ({"x-rate-limit-reset": "1714565400"}, AT_12_10),
        ({"X-Rate-Limit-Reset": "1714565400"}, AT_12_10),
        ({"X-RATE-LIMIT-RESET": " 1714565400 "}, AT_12_10),
        ({"x-rate-limit-reset": "1714565400", "x-rate-limit-remaining": "0"}, AT_12_10),
        ({"x-rate-limit-reset": "2024-05-01T12:10:00Z"}, AT_12_10),
        # the latest of all the hints wins
        ({"Retry-After": "60", "X-RateLimit-Reset": "2024-05-01T12:10:00Z"}, AT_12_10),
        (
            {"Retry-After": "900", "X-RateLimit-Reset": "2024-05-01T12:10:00Z"},
            NOW + timedelta(minutes=15),
        ),
        ({"Retry-After": "60", "x-rate-limit-reset": "1714565400"}, AT_12_10),
        (
            {"Retry-After": "900", "x-rate-limit-reset": "1714565400"},
            NOW + timedelta(minutes=15),
        ),
        # a reset only matters once the quota is used up (both send it on every answer)
        ({"X-RateLimit-Reset": "1714565400", "X-RateLimit-Remaining": "12"}, None),
        ({"x-rate-limit-reset": "1714565400", "x-rate-limit-remaining": "847"}, None),
        ({"x-rate-limit-reset": "1714565400", "X-RateLimit-Remaining": "12"}, AT_12_10),
        ({"X-RateLimit-Reset": "1714565400", "X-RateLimit-Remaining": "0"}, AT_12_10),
        ({"X-RateLimit-Reset": "1714565400", "X-RateLimit-Remaining": "junk"}, AT_12_10),
        # far future: capped at PUBLISHER_RETRY_AFTER_MAX (an hour by default)
        ({"Retry-After": "315360000"}, CAP),
        ({"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}, CAP),
        ({"x-rate-limit-reset": "4102444800"}, CAP),
        ({"X-RateLimit-Reset": "2100-01-01T00:00:00Z"}, CAP),
        ({"Retry-After": "3601"}, CAP),
        ({"Retry-After": "3599"}, NOW + timedelta(seconds=3599)),
        # in the past: nothing to wait for
        ({"x-rate-limit-reset": "1714560000"}, NOW),
        ({"X-RateLimit-Reset": "2024-05-01T11:00:00Z"}, NOW),
        ({"Retry-After": "Wed, 01 May 2024 11:00:00 GMT"}, NOW),
        ({"x-rate-limit-reset": "0"}, NOW),
    ],
)
def test_earliest_from_headers(headers: dict[str, str], expected: datetime | None) -> None:
    assert earliest_from_headers(headers, NOW) == expected


@pytest.mark.parametrize(
    ("headers", "cap", "expected"),
    [
        ({"Retry-After": "120"}, 60.0, NOW + timedelta(seconds=60)),
        ({"x-rate-limit-reset": "1714565400"}, 60.0, NOW + timedelta(seconds=60)),
        ({"X-RateLimit-Reset": "2024-05-01T12:10:00Z"}, 60.0, NOW + timedelta(seconds=60)),
        ({"Retry-After": "120"}, 86400.0, NOW + timedelta(seconds=120)),
        ({"Retry-After": "120"}, 0.0, NOW),
    ],
)
def test_the_cap_bounds_every_header(
    headers: dict[str, str], cap: float, expected: datetime
) -> None:
    assert earliest_from_headers(headers, NOW, cap) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": ""},
        {"Retry-After": "soon"},
        {"Retry-After": "-5"},
        {"Retry-After": "-0.5"},
        {"Retry-After": "nan"},
        {"Retry-After": "inf"},
        {"Retry-After": "1e9"},
        {"Retry-After": "9" * 400},
        {"Retry-After": "Wed, 99 Foo 2024 99:99:99 GMT"},
        {"X-RateLimit-Reset": "9" * 400},
        {"X-RateLimit-Reset": "99999999999999999"},
        {"X-RateLimit-Reset": "2024-13-45T99:00:00Z"},
        {"X-RateLimit-Reset": "tomorrow"},
        {"X-RateLimit-Reset": "\x00"},
        {"X-RateLimit-Reset": "-1714565400"},
        {"x-rate-limit-reset": ""},
        {"x-rate-limit-reset": "soon"},
        {"x-rate-limit-reset": "-60"},
        {"x-rate-limit-reset": "9" * 400},
        {"x-rate-limit-reset": "99999999999999999"},
        {"x-rate-limit-reset": "1714565400; junk"},
    ],
)
def test_junk_headers_are_ignored(headers: dict[str, str]) -> None:
    assert earliest_from_headers(headers, NOW) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "garbage", "X-RateLimit-Reset": "1714565400"},
        {"Retry-After": "garbage", "x-rate-limit-reset": "1714565400"},
        {"X-RateLimit-Reset": "garbage", "x-rate-limit-reset": "1714565400"},
        {"x-rate-limit-reset": "garbage", "X-RateLimit-Reset": "2024-05-01T12:10:00Z"},
    ],
)
def test_junk_header_does_not_hide_a_good_one(headers: dict[str, str]) -> None:
    assert earliest_from_headers(headers, NOW) == AT_12_10


def test_result_is_utc() -> None:
    found = earliest_from_headers({"X-RateLimit-Reset": "2024-05-01T14:10:00+02:00"}, NOW)
    assert found is not None and found.utcoffset() == timedelta(0)
