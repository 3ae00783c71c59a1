"""What the dashboard's overview shows at a glance: unfinished posts by state and every
kill switch that is on, with who turned it on and when.

Only unfinished states are counted: the (state, next_run_at) index answers them without
reading the finished rows, however many there are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.core import control
from publisher.core.models import Credential, Post
from publisher.core.states import State

# The states a post can still leave: each is counted (finished ones are history).
UNFINISHED = (State.DRAFT, State.APPROVED, State.RUNNING, State.RETRY)


@dataclass(frozen=True)
class Switch:
    """One kill switch that is on: its scope ("everything", a provider, a credential)."""

    scope: str
    by: str | None
    at: str | None


def unfinished_counts(session: Session) -> dict[str, int]:
    """Posts in each unfinished state, every such state present (0 when none)."""
    rows = session.execute(
        select(Post.state, func.count())
        .where(Post.state.in_([s.value for s in UNFINISHED]))
        .group_by(Post.state)
    )
    found = {state: int(n) for state, n in rows}
    return {state.value: found.get(state.value, 0) for state in UNFINISHED}


def switches_on(session: Session) -> list[Switch]:
    """Every kill switch that is on: all publishing, then providers, then credentials."""
    on: list[Switch] = []
    everything = control.read(session, control.PAUSED) or {}
    if everything.get("paused"):
        on.append(Switch("everything", everything.get("by"), everything.get("at")))
    for provider, who in sorted((control.read(session, control.PAUSED_PROVIDERS) or {}).items()):
        on.append(Switch(f"provider {provider}", who.get("by"), who.get("at")))
    paused = select(Credential).where(Credential.paused_at.is_not(None)).order_by(Credential.id)
    for credential in session.scalars(paused):
        at = credential.paused_at.isoformat() if credential.paused_at else None
        on.append(Switch(f"credential {credential.id}", credential.paused_by, at))
    return on
