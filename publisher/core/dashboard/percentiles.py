"""Percentiles of a chart's values, the same on both databases.

PostgreSQL computes them with ``percentile_cont`` (linear interpolation between the two
nearest ranks); SQLite has no such aggregate, so its rows come back and ``cont`` below
computes the same definition in Python. Tests hold the two to each other.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Percentiles:
    bucket: datetime
    key: str | None  # the provider, for durations; None for lateness
    count: int  # values behind the percentiles
    values: tuple[float, ...]  # one per asked quantile, in the asked order


def cont(ordered: Sequence[float], q: float) -> float:
    """PostgreSQL's ``percentile_cont(q)`` of ``ordered`` (sorted, not empty)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def grouped(
    rows: Iterable[tuple[datetime, str | None, float]], quantiles: Sequence[float]
) -> tuple[Percentiles, ...]:
    """``(bucket, key, value)`` rows to percentiles per (bucket, key), in that order."""
    groups: dict[tuple[datetime, str | None], list[float]] = defaultdict(list)
    for bucket, key, value in rows:
        groups[(bucket, key)].append(value)
    return tuple(
        _summarise(bucket, key, sorted(values), quantiles)
        for (bucket, key), values in sorted(groups.items(), key=_order)
    )


def _summarise(
    bucket: datetime, key: str | None, ordered: Sequence[float], quantiles: Sequence[float]
) -> Percentiles:
    return Percentiles(bucket, key, len(ordered), tuple(cont(ordered, q) for q in quantiles))


def _order(item: tuple[tuple[datetime, str | None], list[float]]) -> tuple[datetime, str]:
    (bucket, key), _values = item
    return bucket, key or ""
