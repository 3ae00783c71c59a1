"""The transition table: every edge, and every illegal move, for each actor."""

from __future__ import annotations

import pytest

from publisher.core.states import Actor, State, Trigger, destination, sources
from publisher.errors import IllegalTransition

S, T, A = State, Trigger, Actor

LEGAL = [
    (T.APPROVE, S.DRAFT, A.USER, S.APPROVED),
    (T.APPROVE, S.DRAFT, A.ENGINE, S.APPROVED),
    (T.UNAPPROVE, S.APPROVED, A.USER, S.DRAFT),
    (T.START, S.APPROVED, A.ENGINE, S.RUNNING),
    (T.START, S.RETRY, A.ENGINE, S.RUNNING),
    (T.SUCCEED, S.RUNNING, A.ENGINE, S.DONE),
    (T.DEFER, S.RUNNING, A.ENGINE, S.RETRY),
    (T.GIVE_UP, S.RUNNING, A.ENGINE, S.DRAFT),
    (T.RELEASE, S.RUNNING, A.ENGINE, S.RETRY),
    (T.RESCUE, S.RUNNING, A.ENGINE, S.RETRY),
    (T.CANCEL, S.DRAFT, A.USER, S.CANCELLED),
    (T.CANCEL, S.APPROVED, A.USER, S.CANCELLED),
    (T.CANCEL, S.RETRY, A.USER, S.CANCELLED),
    (T.CANCEL, S.RUNNING, A.ENGINE, S.CANCELLED),
    (T.REOPEN, S.CANCELLED, A.USER, S.DRAFT),
    (T.RETRY_NOW, S.RETRY, A.USER, S.RETRY),
]


@pytest.mark.parametrize(("trigger", "source", "actor", "dest"), LEGAL)
def test_legal_transition(trigger: Trigger, source: State, actor: Actor, dest: State) -> None:
    assert destination(trigger, source, actor) is dest


ILLEGAL = [
    (trigger, source, actor)
    for trigger in Trigger
    for source in State
    for actor in Actor
    if (trigger, source, actor) not in {(t, s, a) for t, s, a, _ in LEGAL}
]


@pytest.mark.parametrize(("trigger", "source", "actor"), ILLEGAL)
def test_illegal_transition_names_the_state(trigger: Trigger, source: State, actor: Actor) -> None:
    with pytest.raises(IllegalTransition) as raised:
        destination(trigger, source, actor)
    assert raised.value.details["state"] == source.value


def test_done_is_final() -> None:
    for trigger in Trigger:
        for actor in Actor:
            with pytest.raises(IllegalTransition):
                destination(trigger, S.DONE, actor)


def test_user_may_not_cancel_a_running_post() -> None:
    assert S.RUNNING not in sources(T.CANCEL, A.USER)
    assert S.RUNNING in sources(T.CANCEL, A.ENGINE)


def test_user_may_not_start() -> None:
    assert sources(T.START, A.USER) == ()
