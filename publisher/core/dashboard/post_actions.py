"""What an operator may do to one post from the dashboard, read from the state machine.

Three actions, each one call into ``core.service``: ``retry_now`` (a waiting retry is due
now; a draft or a cancelled post is approved for now), ``cancel`` and ``reopen``. Which
of them a post's page offers follows from ``states.TABLE`` alone: an action is offered
in a state when one of the user's edges behind it leaves that state. The service stays
the judge when the action arrives (the state may have changed since the page was drawn).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from publisher.core import states
from publisher.core.states import Actor, State, Trigger


class PostAction(enum.StrEnum):
    RETRY_NOW = "retry_now"  # publish again as soon as possible (service.retry_now)
    CANCEL = "cancel"  # stop it (service.cancel)
    REOPEN = "reopen"  # a cancelled post back to draft (service.reopen)


# The user's edges each action may take: retry_now cuts a retry's backoff, approves a
# draft, and reopens (then approves) a cancelled post.
EDGES: Mapping[PostAction, tuple[Trigger, ...]] = {
    PostAction.RETRY_NOW: (Trigger.RETRY_NOW, Trigger.APPROVE, Trigger.REOPEN),
    PostAction.CANCEL: (Trigger.CANCEL,),
    PostAction.REOPEN: (Trigger.REOPEN,),
}


def states_for(action: PostAction) -> frozenset[State]:
    """Every state from which ``action`` may move a post (a user's edge behind it starts
    there); the posts list's bulk actions count and filter with it too."""
    return frozenset(s for trigger in EDGES[action] for s in states.sources(trigger, Actor.USER))


def allowed_actions(state: str) -> tuple[PostAction, ...]:
    """The actions a post in ``state`` allows, in the order the page shows them; none for
    a state the machine does not know."""
    if state not in State.__members__.values():
        return ()
    return tuple(action for action in EDGES if State(state) in states_for(action))
