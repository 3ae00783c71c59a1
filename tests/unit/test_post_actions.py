"""Which actions a post's page offers, read from the state machine's table."""

from __future__ import annotations

import pytest

from publisher.core import states
from publisher.core.dashboard.post_actions import EDGES, PostAction, allowed_actions
from publisher.core.states import Actor, State

R, C, RE = PostAction.RETRY_NOW, PostAction.CANCEL, PostAction.REOPEN


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (State.DRAFT, (R, C)),  # approved for now, or cancelled
        (State.APPROVED, (C,)),  # keeps its schedule: only a cancel
        (State.RUNNING, ()),  # a worker holds it: nothing
        (State.RETRY, (R, C)),  # its backoff cut, or cancelled
        (State.DONE, ()),  # final
        (State.CANCELLED, (R, RE)),  # reopened (and approved for now)
    ],
)
def test_each_state_offers_its_actions(state: State, expected: tuple[PostAction, ...]) -> None:
    assert allowed_actions(state.value) == expected


def test_an_action_is_offered_exactly_where_a_user_edge_behind_it_starts() -> None:
    for action, triggers in EDGES.items():
        starts = {
            source
            for edge in states.TABLE
            if edge.trigger in triggers and Actor.USER in edge.actors
            for source in edge.sources
        }
        offered = {state for state in State if action in allowed_actions(state.value)}
        assert offered == starts, action


def test_no_action_is_offered_for_a_state_the_machine_does_not_know() -> None:
    assert allowed_actions("paused") == ()
    assert allowed_actions("") == ()
