"""The post lifecycle: states and the transition table, as plain data.

The table is defined once here and loaded into a ``transitions`` state machine, which
answers "where does trigger T lead from state S?". Persistence (compare-and-set in SQL,
the event row) lives in ``lifecycle``; no side effects hang off the machine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from transitions import Machine

from publisher.errors import IllegalTransition


class State(enum.StrEnum):
    DRAFT = "draft"  # being written; the engine ignores it
    APPROVED = "approved"  # approved by the main app; due at next_run_at
    RUNNING = "running"  # claimed by a worker holding a lease
    RETRY = "retry"  # a transient failure; due again at next_run_at
    DONE = "done"  # published; final
    CANCELLED = "cancelled"  # stopped by the user or the engine (see cancel_reason)


class Trigger(enum.StrEnum):
    APPROVE = "approve"  # the main app approves a draft
    UNAPPROVE = "unapprove"  # the main app takes an approval back
    START = "start"  # the engine claims a due post (the lock)
    SUCCEED = "succeed"  # the provider accepted the post
    DEFER = "defer"  # a transient failure, another attempt later
    GIVE_UP = "give_up"  # the last attempt failed: back to draft for review
    RELEASE = "release"  # the engine hands a post back without using an attempt
    RESCUE = "rescue"  # the sweep recovers a post whose worker lost its lease
    CANCEL = "cancel"  # the user, or the engine with a reason
    REOPEN = "reopen"  # a cancelled post becomes a draft again
    RETRY_NOW = "retry_now"  # an operator makes a waiting retry due now (its backoff cut)


class Actor(enum.StrEnum):
    USER = "user"  # the main app, over HTTP or the Python API
    ENGINE = "engine"  # workers and the sweep


# Which states the due-post sweep picks up.
DUE_STATES: tuple[State, ...] = (State.APPROVED, State.RETRY)


@dataclass(frozen=True)
class Edge:
    trigger: Trigger
    sources: tuple[State, ...]
    dest: State
    actors: tuple[Actor, ...]


S, A = State, Actor
TABLE: tuple[Edge, ...] = (
    Edge(Trigger.APPROVE, (S.DRAFT,), S.APPROVED, (A.USER, A.ENGINE)),  # engine: recurrences
    Edge(Trigger.UNAPPROVE, (S.APPROVED,), S.DRAFT, (A.USER,)),
    Edge(Trigger.START, (S.APPROVED, S.RETRY), S.RUNNING, (A.ENGINE,)),
    Edge(Trigger.SUCCEED, (S.RUNNING,), S.DONE, (A.ENGINE,)),
    Edge(Trigger.DEFER, (S.RUNNING,), S.RETRY, (A.ENGINE,)),
    Edge(Trigger.GIVE_UP, (S.RUNNING,), S.DRAFT, (A.ENGINE,)),
    Edge(Trigger.RELEASE, (S.RUNNING,), S.RETRY, (A.ENGINE,)),
    Edge(Trigger.RESCUE, (S.RUNNING,), S.RETRY, (A.ENGINE,)),
    Edge(Trigger.CANCEL, (S.DRAFT, S.APPROVED, S.RETRY), S.CANCELLED, (A.USER,)),
    Edge(Trigger.CANCEL, (S.RUNNING,), S.CANCELLED, (A.ENGINE,)),
    Edge(Trigger.REOPEN, (S.CANCELLED,), S.DRAFT, (A.USER,)),
    Edge(Trigger.RETRY_NOW, (S.RETRY,), S.RETRY, (A.USER,)),
)


def _build_machine() -> Machine:
    machine = Machine(
        model=None,
        states=[s.value for s in State],
        initial=State.DRAFT.value,
        auto_transitions=False,
    )
    for edge in TABLE:
        machine.add_transition(edge.trigger.value, [s.value for s in edge.sources], edge.dest.value)
    return machine


_MACHINE = _build_machine()


def _allowed(trigger: Trigger, source: State, actor: Actor) -> bool:
    return any(
        edge.trigger is trigger and source in edge.sources and actor in edge.actors
        for edge in TABLE
    )


def destination(trigger: Trigger, source: State, actor: Actor) -> State:
    """The state ``trigger`` leads to from ``source`` for ``actor``.

    Raises ``IllegalTransition`` (naming the current state) when there is no such edge.
    """
    found = _MACHINE.get_transitions(trigger=trigger.value, source=source.value)
    if not found or not _allowed(trigger, source, actor):
        raise IllegalTransition(
            f"cannot {trigger.value} a post in state {source.value!r}",
            state=source.value,
            trigger=trigger.value,
        )
    return State(str(found[0].dest))


def sources(trigger: Trigger, actor: Actor) -> tuple[State, ...]:
    """Every state from which ``actor`` may fire ``trigger`` (for the SQL guard)."""
    return tuple(
        s
        for s in State
        if any(e.trigger is trigger and s in e.sources and actor in e.actors for e in TABLE)
    )
