"""Recurrences fire at wall-clock times in their zone, once each, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from publisher.core.recurrence import next_occurrence, validate
from publisher.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def occurrences(expression: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    found = []
    moment = next_occurrence(expression, tz, start)
    while moment < end:
        found.append(moment)
        moment = next_occurrence(expression, tz, moment)
    return found


@pytest.mark.parametrize(
    ("expression", "tz", "after", "expected"),
    [
        ("0 9 * * *", "UTC", datetime(2024, 1, 1, 8, 0, tzinfo=UTC), datetime(2024, 1, 1, 9, 0)),
        # strictly after: an occurrence at "after" itself is not returned
        ("0 9 * * *", "UTC", datetime(2024, 1, 1, 9, 0, tzinfo=UTC), datetime(2024, 1, 2, 9, 0)),
        ("0 9 * * *", "UTC", datetime(2024, 1, 1, 9, 0, 0, 1, tzinfo=UTC), datetime(2024, 1, 2, 9)),
        (
            "*/15 * * * *",
            "UTC",
            datetime(2024, 1, 1, 9, 7, 30, tzinfo=UTC),
            datetime(2024, 1, 1, 9, 15),
        ),
        # winter: Berlin is UTC+1
        ("0 9 * * *", "Europe/Berlin", berlin(2024, 1, 1, 10), datetime(2024, 1, 2, 8, 0)),
        # summer: Berlin is UTC+2
        ("0 9 * * *", "Europe/Berlin", berlin(2024, 7, 1, 10), datetime(2024, 7, 2, 7, 0)),
        # "after" in another zone is the same instant
        (
            "0 9 * * *",
            "Europe/Berlin",
            datetime(2024, 7, 1, 3, 0, tzinfo=ZoneInfo("America/New_York")),
            datetime(2024, 7, 2, 7, 0),
        ),
        ("0 0 29 2 *", "UTC", datetime(2024, 3, 1, tzinfo=UTC), datetime(2028, 2, 29)),
    ],
)
def test_next_occurrence(expression: str, tz: str, after: datetime, expected: datetime) -> None:
    found = next_occurrence(expression, tz, after)
    assert found == expected.replace(tzinfo=UTC)
    assert found.tzinfo is UTC


def test_weekly_monday_0900_stays_0900_local_across_both_dst_changes() -> None:
    # Given every Monday 09:00 in Berlin from February to December 2024
    # (clocks go forward on 31 March and back on 27 October)
    found = occurrences("0 9 * * 1", "Europe/Berlin", berlin(2024, 2, 1), berlin(2024, 12, 1))
    local = [moment.astimezone(BERLIN) for moment in found]
    # Then each occurrence is 09:00 local on a Monday, exactly one week apart in local days
    assert all((m.weekday(), m.hour, m.minute) == (0, 9, 0) for m in local)
    assert all((b.date() - a.date()).days == 7 for a, b in pairwise(local))
    assert local[0].date().isoformat() == "2024-02-05"
    assert local[-1].date().isoformat() == "2024-11-25"
    assert len(found) == 43
    # and the UTC offset changes around the switches
    assert datetime(2024, 3, 25, 8, 0, tzinfo=UTC) in found  # last winter Monday
    assert datetime(2024, 4, 1, 7, 0, tzinfo=UTC) in found  # first summer Monday
    assert datetime(2024, 10, 21, 7, 0, tzinfo=UTC) in found  # last summer Monday
    assert datetime(2024, 10, 28, 8, 0, tzinfo=UTC) in found  # first winter Monday


def test_daily_0230_fires_once_on_the_spring_forward_day_shifted_past_the_gap() -> None:
    # Given 02:30 daily; on 31 March 2024 Berlin jumps from 02:00 to 03:00
    found = occurrences("30 2 * * *", "Europe/Berlin", berlin(2024, 3, 30), berlin(2024, 4, 2))
    local = [m.astimezone(BERLIN) for m in found]
    assert [(m.day, m.hour, m.minute) for m in local] == [(30, 2, 30), (31, 3, 30), (1, 2, 30)]
    # the nonexistent 02:30 is 02:30 at the pre-switch offset: 01:30 UTC, 03:30 local
    assert found[1] == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


def test_daily_0230_fires_once_on_the_fall_back_day_at_the_first_0230() -> None:
    # Given 02:30 daily; on 27 October 2024 Berlin goes from 03:00 back to 02:00
    found = occurrences("30 2 * * *", "Europe/Berlin", berlin(2024, 10, 26), berlin(2024, 10, 29))
    assert found == [
        datetime(2024, 10, 26, 0, 30, tzinfo=UTC),
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first of the two
        datetime(2024, 10, 28, 1, 30, tzinfo=UTC),
    ]


def test_after_inside_the_repeated_hour_skips_to_the_next_day() -> None:
    # Given "after" is the second 02:10 (CET) on the fall-back day
    after = berlin(2024, 10, 27, 2, 10, fold=1)
    assert after.astimezone(UTC) == datetime(2024, 10, 27, 1, 10, tzinfo=UTC)
    # Then the 02:30 that day has already fired (its first instant was 00:30 UTC)
    found = next_occurrence("30 2 * * *", "Europe/Berlin", after)
    assert found == datetime(2024, 10, 28, 1, 30, tzinfo=UTC)


def test_every_30_minutes_neither_skips_nor_doubles_around_fall_back() -> None:
    found = occurrences(
        "*/30 * * * *",
        "Europe/Berlin",
        datetime(2024, 10, 26, 23, 0, tzinfo=UTC),
        datetime(2024, 10, 27, 3, 0, tzinfo=UTC),
    )
    assert len(found) == len(set(found))
    assert all(b > a for a, b in pairwise(found))
    local = [m.astimezone(BERLIN).strftime("%H:%M") for m in found]
    # the repeated 02:00-03:00 hour fires once, in its first pass
    assert local == ["01:30", "02:00", "02:30", "03:00", "03:30"]


@pytest.mark.parametrize(
    ("expression", "tz", "field"),
    [
        ("0 9 * * *", "Mars/Olympus", "timezone"),
        ("0 9 * * *", "", "timezone"),
        ("0 9 * * *", "../etc/passwd", "timezone"),
        ("0 9 * * *", "/etc/localtime", "timezone"),
        ("", "UTC", "recurrence"),
        ("0 9 * *", "UTC", "recurrence"),
        ("0 0 9 * * *", "UTC", "recurrence"),  # 6 fields (seconds) are not crontab
        ("@daily", "UTC", "recurrence"),
        ("61 * * * *", "UTC", "recurrence"),
        ("a b c d e", "UTC", "recurrence"),
        ("0 0 30 2 *", "UTC", "recurrence"),  # never fires
    ],
)
def test_validate_rejects(expression: str, tz: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(expression, tz)
    assert caught.value.field == field
    with pytest.raises(InvalidInput):
        next_occurrence(expression, tz, datetime(2024, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("expression", "tz"),
    [("0 9 * * 1", "Europe/Berlin"), ("*/5 * * * *", "UTC"), ("0 0 1 jan *", "Asia/Tokyo")],
)
def test_validate_accepts(expression: str, tz: str) -> None:
    validate(expression, tz)


def test_naive_after_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_occurrence("0 9 * * *", "UTC", datetime(2024, 1, 1))


def test_result_is_strictly_after_for_a_long_chain() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(500):
        following = next_occurrence("17 */3 * * *", "America/Sao_Paulo", moment)
        assert following > moment
        assert following - moment <= timedelta(hours=4)
        moment = following
