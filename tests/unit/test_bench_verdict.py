"""Verdicts judged on every round: a result on both sides of its target is inconclusive,
never a coin flip reported as met or missed."""

from __future__ import annotations

import pytest

from bench.verdict import (
    INCONCLUSIVE,
    MET,
    MISSED,
    NOT_MEASURED,
    Goal,
    as_met,
    interleave,
    judge,
    ratios,
    spread,
)

AT_LEAST = Goal(">=", 0.8, "x bare")
AT_MOST = Goal("<=", 0.5, " s")


@pytest.mark.parametrize(
    ("rounds", "goal", "verdict"),
    [
        ([0.9, 0.85, 1.0], AT_LEAST, MET),
        ([0.5, 0.6, 0.7], AT_LEAST, MISSED),
        ([0.79, 0.81], AT_LEAST, INCONCLUSIVE),  # a coin flip
        ([0.9, 0.95, 0.7], AT_LEAST, INCONCLUSIVE),  # median met, one round missed
        ([0.8], AT_LEAST, MET),  # the bound itself meets ">="
        ([], AT_LEAST, NOT_MEASURED),
        ([0.3, 0.49], AT_MOST, MET),
        ([0.51, 4.0], AT_MOST, MISSED),
        ([0.2, 0.6, 0.3], AT_MOST, INCONCLUSIVE),
        ([0.0], Goal("==", 0), MET),
        ([12.0], Goal("==", 0), MISSED),
    ],
)
def test_a_target_is_judged_on_every_round(rounds: list[float], goal: Goal, verdict: str) -> None:
    assert judge(rounds, goal) == verdict


def test_only_clear_verdicts_count_as_met_or_missed() -> None:
    assert [as_met(v) for v in (MET, MISSED, INCONCLUSIVE, NOT_MEASURED)] == [
        True,
        False,
        None,
        None,
    ]


def test_a_ratio_is_taken_per_round_pair() -> None:
    assert ratios([100.0, 90.0], [200.0, 100.0]) == [0.5, 0.9]
    with pytest.raises(ValueError, match="unpaired"):
        ratios([1.0], [1.0, 2.0])


def test_the_spread_of_rounds() -> None:
    assert spread([3.0, 1.0, 2.0]).as_json() == {"n": 3, "min": 1.0, "median": 2.0, "max": 3.0}


def test_sides_run_interleaved() -> None:
    calls: list[str] = []

    def side(name: str, value: float) -> float:
        calls.append(name)
        return value

    found = interleave(3, lambda: side("A", 1.0), lambda: side("B", 2.0))
    assert calls == ["A", "B", "A", "B", "A", "B"]
    assert found == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]


def test_goals_read_as_written() -> None:
    assert str(AT_LEAST) == ">= 0.8x bare"
    assert str(Goal("<=", 10.0, " s")) == "<= 10 s"
    with pytest.raises(ValueError, match="unknown comparison"):
        Goal("=>", 1.0)
