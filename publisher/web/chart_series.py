"""The charts' data shaped for uPlot: one x array (each bucket's start, epoch seconds)
and, per chart, series of one value per bucket, aligned with it.

Counts are 0 where nothing happened; percentiles are None (a gap, not a zero) where no
value fell in the bucket. The outcome categories the issue names are always present, in
a fixed order (so a series keeps its colour and dash), an ambiguous attempt counted with
its category (``unavailable_ambiguous`` is unavailable), then any other category the
call log holds (in_flight, abandoned, reconciled, ...).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from publisher.core.constants import AMBIGUOUS
from publisher.core.dashboard import charts
from publisher.core.dashboard.charts import Count
from publisher.core.dashboard.percentiles import Percentiles
from publisher.core.dashboard.window import Window
from publisher.core.states import Trigger
from publisher.providers.base import Category

# The outcome categories the charts always show (a duplicate is a success found late).
OUTCOMES = tuple(
    c.value
    for c in (
        Category.SUCCESS,
        Category.UNAVAILABLE,
        Category.UNAUTHORIZED,
        Category.FORBIDDEN,
        Category.UNCLASSIFIED,
    )
)
RETRIES = ((Trigger.DEFER.value, "retries"), (Trigger.GIVE_UP.value, "give-ups"))
DIGITS = 3  # milliseconds and seconds to a thousandth: finer than any chart shows

Value = float | None


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Chart:
    key: str  # the page's element ids: plot-KEY, table-KEY
    title: str
    unit: str  # the y axis
    series: tuple[Series, ...]


def _counted(
    window: Window, counts: Iterable[Count], key: Callable[[Count], str | None]
) -> dict[str, list[Value]]:
    """Counts summed per series name and bucket (0 where none)."""
    found: dict[str, list[Value]] = defaultdict(lambda: [0] * window.buckets)
    for count in counts:
        name = key(count)
        if name is not None:
            values = found[name]
            index = window.index_of(count.bucket)
            values[index] = (values[index] or 0) + count.count
    return found


def outcome_of(category: str) -> str:
    """The series a call-log category counts in: an outcome, ambiguous or not."""
    base = category.removesuffix(AMBIGUOUS)
    return base if base in OUTCOMES else category


def outcomes(window: Window, counts: Iterable[Count]) -> Chart:
    """Provider calls per bucket by category: the five outcomes, then any other."""
    found = _counted(window, counts, lambda c: outcome_of(c.key))
    names = [*OUTCOMES, *sorted(set(found) - set(OUTCOMES))]
    series = tuple(Series(n, tuple(found.get(n) or [0] * window.buckets)) for n in names)
    return Chart("outcomes", "Provider calls by outcome", "calls", series)


def providers(window: Window, counts: Iterable[Count]) -> Chart:
    """Provider calls per bucket by provider (every category)."""
    found = _counted(window, counts, lambda c: c.provider)
    series = tuple(Series(name, tuple(found[name])) for name in sorted(found))
    return Chart("providers", "Provider calls by provider", "calls", series)


def retries(window: Window, counts: Iterable[Count]) -> Chart:
    """Attempts deferred (retries) and given up, per bucket."""
    found = _counted(window, counts, lambda c: c.key)
    series = tuple(
        Series(label, tuple(found.get(trigger) or [0] * window.buckets))
        for trigger, label in RETRIES
    )
    return Chart("retries", "Retries and give-ups", "posts", series)


def _percentiles(
    window: Window, rows: Iterable[Percentiles], quantiles: tuple[float, ...]
) -> dict[tuple[str, float], list[Value]]:
    """Each (key, quantile)'s value per bucket (None where no value fell)."""
    found: dict[tuple[str, float], list[Value]] = defaultdict(lambda: [None] * window.buckets)
    for row in rows:
        for q, value in zip(quantiles, row.values, strict=True):
            found[(row.key or "", q)][window.index_of(row.bucket)] = round(value, DIGITS)
    return found


def _p(q: float) -> str:
    return f"p{round(q * 100)}"


def lateness(window: Window, rows: Iterable[Percentiles]) -> Chart:
    """Seconds from the scheduled time to the publish: p50, p95, p99 per bucket."""
    quantiles = charts.LATENESS_QUANTILES
    found = _percentiles(window, rows, quantiles)
    empty: list[Value] = [None] * window.buckets
    series = tuple(Series(_p(q), tuple(found.get(("", q), empty))) for q in quantiles)
    return Chart("lateness", "Lateness (scheduled to published)", "seconds", series)


def durations(window: Window, rows: Iterable[Percentiles]) -> Chart:
    """Milliseconds per provider call: p50 and p95 per provider and bucket."""
    found = _percentiles(window, rows, charts.DURATION_QUANTILES)
    series = tuple(
        Series(f"{provider} {_p(q)}", tuple(values))
        for (provider, q), values in sorted(found.items())
    )
    return Chart("durations", "Provider call duration", "ms", series)


def read(session: Session, window: Window) -> tuple[Chart, ...]:
    """Every chart of ``window``, in the page's order."""
    calls = charts.publishes(session, window)
    return (
        outcomes(window, calls),
        providers(window, calls),
        lateness(window, charts.lateness(session, window)),
        durations(window, charts.durations(session, window)),
        retries(window, charts.retries(session, window)),
    )


def as_json(name: str, window: Window, found: Iterable[Chart]) -> dict[str, Any]:
    """The page script's JSON: the window, the x array and every chart's series."""
    return {
        "window": name,
        "start": int(window.start.timestamp()),
        "end": int(window.end.timestamp()),
        "bucket": window.size,
        "x": [int(start.timestamp()) for start in window.starts()],
        "charts": [
            {
                "key": chart.key,
                "title": chart.title,
                "unit": chart.unit,
                "series": [{"label": s.label, "values": list(s.values)} for s in chart.series],
            }
            for chart in found
        ],
    }
