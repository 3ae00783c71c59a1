"""Bulk actions (``core.service.bulk``) on SQLite and PostgreSQL: every matching post in
batches, one write transaction each; a post that changed state meanwhile skipped and
counted; one audit row that always says what was committed; a selection touches only its
posts; posts created after the confirmation are left alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import lifecycle
from publisher.core.dashboard.post_search import PostFilter
from publisher.core.models import DashboardAction, Post, PostEvent, utcnow
from publisher.core.service import bulk
from publisher.core.service.bulk import BulkAction, Matching, Selection
from publisher.core.states import Actor, Trigger
from publisher.errors import LostRace
from tests.conftest import SQLITE_ONLY
from tests.support.dashboard_rows import credential, post

pytestmark = pytest.mark.integration

WHO = "k:fingerprint"


def _posts(sessions: sessionmaker[Session], *specs: tuple[str, str]) -> list[int]:
    """One post per (state, text), on one mastodon credential."""
    with sessions.begin() as session:
        owner = credential(session, "mastodon")
        later = utcnow() + timedelta(hours=1)
        return [
            post(session, owner, state=state, text=text, next_run_at=later, scheduled_at=later)
            for state, text in specs
        ]


def _states(sessions: sessionmaker[Session], ids: list[int]) -> list[str]:
    with sessions() as session:
        return [session.get_one(Post, i).state for i in ids]


def _audit(sessions: sessionmaker[Session]) -> list[DashboardAction]:
    with sessions() as session:
        return list(session.scalars(select(DashboardAction)))


@pytest.fixture
def commits(engine: Engine) -> Iterator[list[int]]:
    """One item per transaction committed on ``engine`` while the test runs."""
    seen: list[int] = []

    def count(_connection: object) -> None:
        seen.append(1)

    event.listen(engine, "commit", count)
    yield seen
    event.remove(engine, "commit", count)


def test_all_matching_in_batches_with_one_audit_row(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, commits: list[int]
) -> None:
    # Given 8 drafts saying 'sale', 2 done posts saying it, 3 drafts that do not
    monkeypatch.setattr(bulk, "BATCH", 3)
    sale = _posts(sessions, *[("draft", f"sale {i}") for i in range(8)])
    finished = _posts(sessions, ("done", "sale a"), ("done", "sale b"))
    other = _posts(sessions, *[("draft", f"other {i}") for i in range(3)])
    target = Matching(PostFilter(text="SALE"))
    with sessions() as session:
        seen = bulk.preview(session, BulkAction.RETRY_NOW, target)
    assert (seen.total, seen.applicable, seen.upto) == (10, 8, finished[-1])
    commits.clear()
    # When every matching post is retried now
    now = utcnow()
    outcome = bulk.apply(sessions, WHO, BulkAction.RETRY_NOW, now, target)
    # Then the 8 drafts are approved for now, the rest untouched
    assert (outcome.done, outcome.skipped) == (8, 0)
    assert _states(sessions, sale) == ["approved"] * 8
    assert _states(sessions, finished + other) == ["done"] * 2 + ["draft"] * 3
    with sessions() as session:
        due = session.scalars(select(Post.next_run_at).where(Post.id.in_(sale)))
        assert all(abs(when - now) < timedelta(seconds=1) for when in due)
        reasons = session.scalars(select(PostEvent.reason).where(PostEvent.post_id.in_(sale)))
        assert list(reasons) == [bulk.RETRY_REASON] * 8
    # In batches of 3: the audit row's transaction, 3 batches, the read that found no more
    assert len(commits) == 1 + 3 + 1
    # And one audit row says so
    (row,) = _audit(sessions)
    assert (row.who, row.action, row.posts) == (WHO, "bulk_retry_now", 8)
    assert row.detail == {"filter": {"text": "SALE"}, "upto": None, "skipped": 0}


def test_a_post_that_changed_state_meanwhile_is_skipped_and_counted(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three drafts, the second of which a worker claims while the first is cancelled
    ids = _posts(sessions, ("approved", "a"), ("approved", "b"), ("approved", "c"))
    real = bulk._ACTS[BulkAction.CANCEL]

    def cancel_while_a_worker_claims(session: Session, post_id: int, now: datetime) -> object:
        if post_id == ids[0]:
            lifecycle.move(session, ids[1], Trigger.START, Actor.ENGINE, now)
        return real(session, post_id, now)

    monkeypatch.setitem(bulk._ACTS, BulkAction.CANCEL, cancel_while_a_worker_claims)
    # When all of them are cancelled
    target = Matching(PostFilter(states=frozenset({"approved"})))
    outcome = bulk.apply(sessions, WHO, BulkAction.CANCEL, utcnow(), target)
    # Then the claimed one is skipped, not an error, and the rest of its batch goes on
    assert (outcome.done, outcome.skipped) == (2, 1)
    assert _states(sessions, ids) == ["cancelled", "running", "cancelled"]
    (row,) = _audit(sessions)
    assert (row.action, row.posts, row.detail["skipped"]) == ("bulk_cancel", 2, 1)


@SQLITE_ONLY
def test_a_post_refused_halfway_leaves_no_trace(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an action that moves a post, then is refused (a race lost after a first move)
    ids = _posts(sessions, ("draft", "a"), ("draft", "b"))
    real = bulk._ACTS[BulkAction.CANCEL]

    def refused_after_moving(session: Session, post_id: int, now: datetime) -> object:
        real(session, post_id, now)
        if post_id == ids[0]:
            raise LostRace("another process changed the post first")
        return None

    monkeypatch.setitem(bulk._ACTS, BulkAction.CANCEL, refused_after_moving)
    outcome = bulk.apply(sessions, WHO, BulkAction.CANCEL, utcnow(), Selection(tuple(ids)))
    # Then its move is undone (its savepoint), counted as skipped; the other is done
    assert (outcome.done, outcome.skipped) == (1, 1)
    assert _states(sessions, ids) == ["draft", "cancelled"]


def test_the_audit_row_says_what_was_committed_when_cut_short(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 5 drafts in batches of 2, and a failure on the 4th (the second batch)
    monkeypatch.setattr(bulk, "BATCH", 2)
    ids = _posts(sessions, *[("draft", f"p{i}") for i in range(5)])
    real = bulk._ACTS[BulkAction.CANCEL]

    def fails_on_the_fourth(session: Session, post_id: int, now: datetime) -> object:
        if post_id == ids[3]:
            raise RuntimeError("the database went away")
        return real(session, post_id, now)

    monkeypatch.setitem(bulk._ACTS, BulkAction.CANCEL, fails_on_the_fourth)
    with pytest.raises(RuntimeError):
        bulk.apply(sessions, WHO, BulkAction.CANCEL, utcnow(), Selection(tuple(ids)))
    # Then the first batch stays done, the second is rolled back whole, and the audit
    # row counts exactly the first batch
    assert _states(sessions, ids) == ["cancelled", "cancelled", "draft", "draft", "draft"]
    (row,) = _audit(sessions)
    assert row.posts == 2 and row.detail["selected"] == ids


def test_a_selection_touches_its_posts_only(sessions: sessionmaker[Session]) -> None:
    ids = _posts(sessions, *[("draft", "same text") for _ in range(5)])
    chosen = (ids[3], ids[1])
    with sessions() as session:
        seen = bulk.preview(session, BulkAction.CANCEL, Selection(chosen))
    assert (seen.total, seen.applicable) == (2, 2)
    outcome = bulk.apply(sessions, WHO, BulkAction.CANCEL, utcnow(), Selection(chosen))
    assert (outcome.done, outcome.skipped) == (2, 0)
    assert _states(sessions, ids) == ["draft", "cancelled", "draft", "cancelled", "draft"]
    (row,) = _audit(sessions)
    assert row.detail == {"selected": [ids[3], ids[1]], "skipped": 0}


def test_retry_now_applies_to_drafts_cancelled_and_waiting_posts_only(
    sessions: sessionmaker[Session],
) -> None:
    ids = _posts(
        sessions,
        ("draft", "a"),
        ("cancelled", "b"),
        ("retry", "c"),
        ("approved", "d"),
        ("done", "e"),
    )
    assert bulk.applies_to(BulkAction.RETRY_NOW) == {"draft", "cancelled", "retry"}
    assert bulk.applies_to(BulkAction.CANCEL) == {"draft", "approved", "retry"}
    with sessions() as session:
        seen = bulk.preview(session, BulkAction.RETRY_NOW, Selection(tuple(ids)))
    assert (seen.total, seen.applicable) == (5, 3)
    now = utcnow()
    outcome = bulk.apply(sessions, WHO, BulkAction.RETRY_NOW, now, Selection(tuple(ids)))
    assert (outcome.done, outcome.skipped) == (3, 2)
    assert _states(sessions, ids) == ["approved", "approved", "retry", "approved", "done"]
    with sessions() as session:
        assert session.get_one(Post, ids[2]).next_run_at == now  # its backoff cut


def test_posts_created_after_the_confirmation_are_not_touched(
    sessions: sessionmaker[Session],
) -> None:
    counted = _posts(sessions, ("draft", "sale 1"), ("draft", "sale 2"))
    target = Matching(PostFilter(text="sale"))
    with sessions() as session:
        seen = bulk.preview(session, BulkAction.CANCEL, target)
    late = _posts(sessions, ("draft", "sale 3"))
    confirmed = Matching(target.filter, seen.upto)
    outcome = bulk.apply(sessions, WHO, BulkAction.CANCEL, utcnow(), confirmed)
    assert outcome.done == 2
    assert _states(sessions, counted + late) == ["cancelled", "cancelled", "draft"]


def test_a_filter_whose_states_the_action_never_applies_to_touches_nothing(
    sessions: sessionmaker[Session],
) -> None:
    ids = _posts(sessions, ("done", "a"), ("draft", "b"))
    target = Matching(PostFilter(states=frozenset({"done", "running"})))
    with sessions() as session:
        assert bulk.preview(session, BulkAction.CANCEL, target).applicable == 0
    outcome = bulk.apply(sessions, WHO, BulkAction.CANCEL, utcnow(), target)
    assert (outcome.done, outcome.skipped) == (0, 0)
    assert _states(sessions, ids) == ["done", "draft"]
    assert [row.posts for row in _audit(sessions)] == [0]
