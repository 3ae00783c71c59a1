"""Verdicts that say how sure they are.

A target is judged on every round measured, not on one summary: met when every round
meets it, missed when none does, and *inconclusive* when the rounds fall on both sides
(the verdict would rest on a coin flip). A ratio is judged on its round pairs (A1/B1,
A2/B2, ...), measured interleaved (A, B, A, B...) so that drift in the machine hits both
sides, never on the ratio of two medians alone.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MET, MISSED, INCONCLUSIVE, NOT_MEASURED = "met", "missed", "inconclusive", "not measured"
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Goal:
    """``value OP bound``, e.g. ``Goal(">=", 0.8, "x bare")``."""

    op: str
    bound: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}")

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.bound)

    def __str__(self) -> str:
        bound = f"{self.bound:,.0f}" if self.bound == int(self.bound) else f"{self.bound:g}"
        return f"{self.op} {bound}{self.unit}"


@dataclass(frozen=True)
class Spread:
    """The spread of repeated rounds of one figure."""

    n: int
    min: float
    median: float
    max: float

    def as_json(self) -> dict[str, float]:
        return {"n": self.n, "min": self.min, "median": self.median, "max": self.max}


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no rounds to summarise")
    return Spread(len(values), min(values), statistics.median(values), max(values))


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``a[i] / b[i]`` for each round pair (the sides must have as many rounds)."""
    if len(a) != len(b):
        raise ValueError(f"unpaired rounds: {len(a)} against {len(b)}")
    return [x / y if y else float("inf") for x, y in zip(a, b, strict=True)]


def judge(values: Sequence[float], goal: Goal) -> str:
    """MET if every round meets ``goal``, MISSED if none does, else INCONCLUSIVE;
    NOT_MEASURED with no rounds."""
    if not values:
        return NOT_MEASURED
    held = [goal.holds(v) for v in values]
    if all(held):
        return MET
    if not any(held):
        return MISSED
    return INCONCLUSIVE


def as_met(word: str) -> bool | None:
    """The verdict as the older ``met`` field: True, False, or None (inconclusive or not
    measured)."""
    return {MET: True, MISSED: False}.get(word)


def interleave(rounds: int, *sides: Callable[[], float]) -> list[list[float]]:
    """Run ``sides`` in turn ``rounds`` times (A, B, A, B...); each side's figures."""
    found: list[list[float]] = [[] for _ in sides]
    for _ in range(rounds):
        for figures, side in zip(found, sides, strict=True):
            figures.append(side())
    return found
