"""``service.retry_now``: what an operator's "retry now" does in each state, through the
state machine (an event in the history each time), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.models import Post
from publisher.core.states import State
from publisher.errors import IllegalTransition
from tests.support.dashboard_rows import T0, credential, post

pytestmark = pytest.mark.integration

LATER = T0 + timedelta(hours=1)


def _post(db: Session, state: State, **fields: object) -> int:
    return post(db, credential(db), state=state.value, scheduled_at=T0, **fields)


def test_a_waiting_retry_is_due_now_and_keeps_its_attempts(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as db:
        post_id = _post(db, State.RETRY, attempts=2, next_run_at=LATER + timedelta(hours=1))
    with sessions.begin() as db:
        service.retry_now(db, post_id, LATER)
    with sessions() as db:
        row = db.get(Post, post_id)
        assert row is not None
        assert (row.state, row.attempts) == ("retry", 2)
        assert row.next_run_at is not None and row.next_run_at.replace(tzinfo=LATER.tzinfo) == LATER
        last = service.history(db, post_id)[-1]
        assert (last.trigger, last.from_state, last.to_state) == ("retry_now", "retry", "retry")


@pytest.mark.parametrize("state", [State.DRAFT, State.CANCELLED])
def test_a_draft_or_cancelled_post_is_approved_for_now_with_fresh_attempts(
    sessions: sessionmaker[Session], state: State
) -> None:
    with sessions.begin() as db:
        post_id = _post(db, state, attempts=5, ambiguous=True, cancel_reason="forbidden")
    with sessions.begin() as db:
        service.retry_now(db, post_id, LATER)
    with sessions() as db:
        row = db.get(Post, post_id)
        assert row is not None
        assert (row.state, row.attempts, row.cancel_reason) == ("approved", 0, None)
        assert row.ambiguous  # an earlier attempt may have landed: looked up first
        assert [e.trigger for e in service.history(db, post_id)][-1] == "approve"


@pytest.mark.parametrize("state", [State.APPROVED, State.RUNNING, State.DONE])
def test_other_states_are_refused_and_left_alone(
    sessions: sessionmaker[Session], state: State
) -> None:
    with sessions.begin() as db:
        post_id = _post(db, state, next_run_at=LATER + timedelta(hours=1))
    with sessions.begin() as db, pytest.raises(IllegalTransition):
        service.retry_now(db, post_id, LATER)
    with sessions() as db:
        row = db.get(Post, post_id)
        assert row is not None and row.state == state.value
        assert service.history(db, post_id) == []
