"""The charts page's pure parts: the window choices (names, buckets, refusals) and the
shaping of the data layer's rows into uPlot's aligned series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher.core.dashboard.charts import Count
from publisher.core.dashboard.percentiles import Percentiles
from publisher.core.dashboard.window import Window
from publisher.errors import InvalidInput
from publisher.web import chart_series, chart_windows
from publisher.web.chart_series import OUTCOMES, Series

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WINDOW = Window(T0, T0 + 3 * MINUTE)


@pytest.mark.parametrize(
    ("name", "span", "bucket", "points"),
    [
        (None, timedelta(hours=1), MINUTE, 60),
        ("", timedelta(hours=1), MINUTE, 60),
        ("1h", timedelta(hours=1), MINUTE, 60),
        ("6h", timedelta(hours=6), 5 * MINUTE, 72),
        ("24h", timedelta(hours=24), 15 * MINUTE, 96),
        ("3d", timedelta(days=3), 60 * MINUTE, 72),
        ("7d", timedelta(days=7), 120 * MINUTE, 84),
    ],
)
def test_each_window_choice(
    name: str | None, span: timedelta, bucket: timedelta, points: int
) -> None:
    choice = chart_windows.choose(name)
    window = choice.window(T0 + 30 * MINUTE + timedelta(seconds=7))
    assert (choice.span, choice.bucket, window.buckets) == (span, bucket, points)
    assert window.end - window.start == span and window.size == bucket.total_seconds()
    assert window.start <= T0 + 30 * MINUTE < window.end  # now is in the last bucket


@pytest.mark.parametrize("name", ["2h", "1H", "7d ", "-1h", "x" * 40])
def test_a_window_not_offered_is_refused_naming_the_parameter(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        chart_windows.choose(name)
    assert refused.value.field == "window" and "1h, 6h, 24h, 3d, 7d" in refused.value.message


def test_bucket_text() -> None:
    assert [c.bucket_text for c in chart_windows.CHOICES] == [
        "1 min",
        "5 min",
        "15 min",
        "1 h",
        "2 h",
    ]


def _calls() -> list[Count]:
    return [
        Count(T0, "success", "mastodon", 2),
        Count(T0, "unavailable", "mastodon", 1),
        Count(T0, "success", "x", 1),
        Count(T0 + MINUTE, "abandoned", "x", 1),
        Count(T0 + MINUTE, "unavailable_ambiguous", "x", 2),
        Count(T0 + MINUTE, "duplicate_ambiguous", "x", 1),
        Count(T0 + 2 * MINUTE, "forbidden", "mastodon", 3),
    ]


def test_outcomes_always_name_the_five_categories_then_others() -> None:
    chart = chart_series.outcomes(WINDOW, _calls())
    assert chart.series == (
        Series("success", (3, 0, 0)),
        Series("unavailable", (1, 2, 0)),  # the ambiguous ones with the others
        Series("unauthorized", (0, 0, 0)),
        Series("forbidden", (0, 0, 3)),
        Series("unclassified", (0, 0, 0)),
        Series("abandoned", (0, 1, 0)),
        Series("duplicate_ambiguous", (0, 1, 0)),  # not an outcome: as the log says
    )
    assert [s.label for s in chart_series.outcomes(WINDOW, []).series] == list(OUTCOMES)


def test_providers_sum_every_category() -> None:
    chart = chart_series.providers(WINDOW, _calls())
    assert chart.series == (Series("mastodon", (3, 0, 3)), Series("x", (1, 4, 0)))


def test_retries_and_give_ups() -> None:
    rows = [Count(T0, "defer", None, 2), Count(T0 + 2 * MINUTE, "give_up", None, 1)]
    assert chart_series.retries(WINDOW, rows).series == (
        Series("retries", (2, 0, 0)),
        Series("give-ups", (0, 0, 1)),
    )


def test_percentiles_leave_gaps_not_zeros() -> None:
    late = [Percentiles(T0 + MINUTE, None, 4, (1.5, 2.25, 3.0004))]
    assert chart_series.lateness(WINDOW, late).series == (
        Series("p50", (None, 1.5, None)),
        Series("p95", (None, 2.25, None)),
        Series("p99", (None, 3.0, None)),
    )
    took = [
        Percentiles(T0, "x", 1, (10.0, 20.0)),
        Percentiles(T0, "mastodon", 2, (5.0, 6.0)),
        Percentiles(T0 + 2 * MINUTE, "x", 1, (7.0, 8.0)),
    ]
    assert chart_series.durations(WINDOW, took).series == (
        Series("mastodon p50", (5.0, None, None)),
        Series("mastodon p95", (6.0, None, None)),
        Series("x p50", (10.0, None, 7.0)),
        Series("x p95", (20.0, None, 8.0)),
    )


def test_the_json_aligns_every_series_with_x() -> None:
    charts = (chart_series.outcomes(WINDOW, _calls()), chart_series.lateness(WINDOW, []))
    body = chart_series.as_json("1h", WINDOW, charts)
    start = int(T0.timestamp())
    assert body["x"] == [start, start + 60, start + 120] and body["bucket"] == 60
    assert (body["window"], body["start"], body["end"]) == ("1h", start, start + 180)
    for chart in body["charts"]:
        assert all(len(s["values"]) == 3 for s in chart["series"])
    assert body["charts"][1]["series"][0] == {"label": "p50", "values": [None, None, None]}
