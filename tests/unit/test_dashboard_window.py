"""The dashboard's pure parts: a chart window's buckets and the percentile definition
SQLite's charts compute in Python (PostgreSQL's ``percentile_cont``)."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from publisher.core.dashboard.percentiles import Percentiles, cont, grouped
from publisher.core.dashboard.window import MAX_BUCKETS, Window
from publisher.errors import InvalidInput

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("offset", "index"),
    [(0.0, 0), (59.999999, 0), (60.0, 1), (119.5, 1), (299.999, 4)],
)
def test_a_moment_falls_in_the_bucket_whose_edge_it_passed(offset: float, index: int) -> None:
    window = Window(T0, T0 + 5 * MINUTE)
    assert window.index_of(T0 + timedelta(seconds=offset)) == index


def test_buckets_cover_the_window_the_last_one_partly() -> None:
    window = Window(T0, T0 + timedelta(seconds=150))
    assert window.buckets == 3
    assert window.starts() == [T0, T0 + MINUTE, T0 + 2 * MINUTE]


def test_the_last_window_ends_after_the_current_bucket() -> None:
    now = T0 + timedelta(minutes=10, seconds=20.5)
    window = Window.last(now, timedelta(hours=1))
    assert window.end == T0 + 11 * MINUTE
    assert window.start == window.end - timedelta(hours=1)
    assert window.buckets == 60
    assert window.start <= now - timedelta(hours=1) + MINUTE


@pytest.mark.parametrize(
    ("start", "end", "bucket", "field"),
    [
        (T0.replace(tzinfo=None), T0 + MINUTE, MINUTE, "start"),
        (T0 + timedelta(microseconds=5), T0 + MINUTE, MINUTE, "start"),
        (T0, T0, MINUTE, "end"),
        (T0, T0 + MINUTE, timedelta(seconds=0.5), "bucket"),
        (T0, T0 + (MAX_BUCKETS + 1) * MINUTE, MINUTE, "bucket"),
    ],
)
def test_a_bad_window_is_refused_naming_its_field(
    start: datetime, end: datetime, bucket: timedelta, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        Window(start, end, bucket)
    assert refused.value.field == field


def test_the_largest_window_is_accepted() -> None:
    assert Window(T0, T0 + MAX_BUCKETS * MINUTE).buckets == MAX_BUCKETS


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 0.99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 0.95, 3.85),
        ([10.0, 20.0], 0.0, 10.0),
        ([10.0, 20.0], 1.0, 20.0),
    ],
)
def test_cont_interpolates_between_the_nearest_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert cont(values, q) == pytest.approx(expected)


def test_cont_agrees_with_the_inclusive_quantiles_of_the_standard_library() -> None:
    values = sorted(random.Random(7).uniform(0, 1000) for _ in range(101))
    percentiles = statistics.quantiles(values, n=100, method="inclusive")
    for q in (0.5, 0.95, 0.99):
        assert cont(values, q) == pytest.approx(percentiles[round(q * 100) - 1])


def test_grouped_summarises_each_bucket_and_key_in_order() -> None:
    rows = [
        (T0 + MINUTE, "x", 4.0),
        (T0, "x", 3.0),
        (T0, None, 9.0),
        (T0, "x", 1.0),
        (T0 + MINUTE, "x", 2.0),
    ]
    assert grouped(rows, (0.5,)) == (
        Percentiles(T0, None, 1, (9.0,)),
        Percentiles(T0, "x", 2, (2.0,)),
        Percentiles(T0 + MINUTE, "x", 2, (3.0,)),
    )
