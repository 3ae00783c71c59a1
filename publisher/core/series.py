"""A recurring post's series: its occurrences, the next one, its end, pause and resume.

A series is the chain of posts created from one recurring post (its ``series_id`` is
that first post's id; each post is occurrence number ``occurrence``). Only one occurrence
is pending at a time: when it ends, the engine creates the next (``schedule_next``), up
to the series' end (``recurrence_until``, ``recurrence_count``). Decisions, for the user:

- a published occurrence, one that gave up (back to draft) and one the provider refused
  (cancelled as ``forbidden``) all lead to the next occurrence: one bad day does not end
  a daily post;
- an occurrence cancelled because the account is paused or not paying, or because the
  provider rejected the credential, *stops* the series (the next one would fail the same
  way, once a minute for a minute-by-minute series); the notification says so and
  ``resume`` starts it again;
- the user cancelling the pending occurrence stops the series too; ``pause`` holds it
  as a draft instead, ``resume`` approves it for its next time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from publisher.core import lifecycle, recurrence
from publisher.core.models import Post
from publisher.core.states import Actor, State, Trigger
from publisher.errors import Conflict, InvalidInput, NotFound

# Cancel reasons that stop a series instead of skipping to the next occurrence.
STOPPING_REASONS = frozenset({"unauthorized", "billing_inactive", "paused"})
UPCOMING = 10  # occurrences listed ahead
HISTORY = 50  # past occurrences listed
PENDING_STATES = (State.DRAFT, State.APPROVED, State.RETRY, State.RUNNING)


@dataclass(frozen=True)
class SeriesView:
    """A series as the API shows it."""

    id: int
    state: str  # active | paused | stopped | ended
    rule: str
    timezone: str
    until: datetime | None
    count: int | None
    occurrences: Sequence[Post]  # newest first, at most HISTORY
    upcoming: Sequence[datetime]  # the pending occurrence's time and the next ones


def next_time(post: Post, after: datetime) -> datetime | None:
    """When the occurrence after ``post`` fires (strictly after ``after``), or None when
    the series ends before (its count reached, or past its ``until``)."""
    assert post.recurrence is not None
    if post.recurrence_count is not None and (post.occurrence or 1) >= post.recurrence_count:
        return None
    when = recurrence.next_occurrence(post.recurrence, post.timezone or "UTC", after)
    if post.recurrence_until is not None and when > post.recurrence_until:
        return None
    return when


def schedule_next(session: Session, post_id: int, now: datetime, actor: Actor) -> Post | None:
    """The occurrence after post ``post_id``, approved for its time; None when the series
    has ended. A unique index on (series_id, occurrence) keeps it single."""
    current = session.get(Post, post_id, populate_existing=True)
    assert current is not None
    when = next_time(current, max(now, current.scheduled_at or now))
    if when is None:
        return None
    post = Post(
        account_id=current.account_id,
        credential_id=current.credential_id,
        text=current.text,
        parts=current.parts,  # a thread, or media: every occurrence publishes all of it
        options=dict(current.options),
        max_attempts=current.max_attempts,
        state=State.DRAFT.value,
        scheduled_at=when,
        recurrence=current.recurrence,
        timezone=current.timezone,
        series_id=current.series_id or current.id,
        occurrence=(current.occurrence or 1) + 1,
        recurrence_until=current.recurrence_until,
        recurrence_count=current.recurrence_count,
        max_lateness=current.max_lateness,
        ambiguous=False,
    )
    session.add(post)
    session.flush()
    lifecycle.move(
        session,
        post.id,
        Trigger.APPROVE,
        actor,
        now,
        reason=f"next occurrence of post {post_id}",
        changes={"next_run_at": when},
    )
    return post


def continues_after(action: str, reason: str | None) -> bool:
    """Whether an occurrence that ended this way is followed by the next one."""
    if action == "cancel":
        return reason not in STOPPING_REASONS
    return action in ("succeed", "give_up")


def _posts(session: Session, series_id: int) -> list[Post]:
    rows = session.scalars(
        select(Post)
        .where(or_(Post.series_id == series_id, Post.id == series_id))
        .order_by(Post.occurrence.desc().nulls_last(), Post.id.desc())
    ).all()
    posts = [p for p in rows if p.recurrence is not None]
    if not posts or all(p.id != series_id and p.series_id is None for p in posts):
        raise NotFound(f"series {series_id} not found", series_id=series_id)
    return posts


def _pending(posts: Sequence[Post]) -> Post | None:
    newest = posts[0]
    return newest if State(newest.state) in PENDING_STATES else None


def get(session: Session, series_id: int, now: datetime) -> SeriesView:
    posts = _posts(session, series_id)
    newest, pending = posts[0], _pending(posts)
    upcoming: list[datetime] = []
    if pending is not None and pending.state != State.DRAFT.value and pending.next_run_at:
        upcoming.append(pending.scheduled_at or pending.next_run_at)
    probe = newest
    after = max(now, newest.scheduled_at or now)
    while len(upcoming) < UPCOMING and upcoming:
        when = next_time(probe, after)
        if when is None:
            break
        upcoming.append(when)
        probe = _stand_in(probe)
        after = when
    if pending is not None:
        state = "paused" if pending.state == State.DRAFT.value else "active"
    else:
        state = "stopped" if next_time(newest, max(now, newest.scheduled_at or now)) else "ended"
    assert newest.recurrence is not None
    return SeriesView(
        id=series_id,
        state=state,
        rule=newest.recurrence,
        timezone=newest.timezone or "UTC",
        until=newest.recurrence_until,
        count=newest.recurrence_count,
        occurrences=posts[:HISTORY],
        upcoming=upcoming,
    )


def _stand_in(post: Post) -> Post:
    """A detached copy one occurrence further, for listing times ahead."""
    return Post(
        recurrence=post.recurrence,
        timezone=post.timezone,
        recurrence_until=post.recurrence_until,
        recurrence_count=post.recurrence_count,
        occurrence=(post.occurrence or 1) + 1,
    )


def pause(session: Session, series_id: int, now: datetime) -> Post:
    """Hold the pending occurrence as a draft; 409 unless it is approved and waiting."""
    pending = _pending(_posts(session, series_id))
    if pending is None or pending.state != State.APPROVED.value:
        state = pending.state if pending else "none"
        raise Conflict(f"series {series_id} has no waiting occurrence to pause", state=state)
    return lifecycle.move(
        session,
        pending.id,
        Trigger.UNAPPROVE,
        Actor.USER,
        now,
        reason="series paused",
        changes={"next_run_at": None},
    )


def resume(session: Session, series_id: int, now: datetime) -> Post:
    """Approve the paused occurrence for its next time after ``now``, or, for a stopped
    series, create the next occurrence. 409 when the series has ended or is running."""
    posts = _posts(session, series_id)
    pending = _pending(posts)
    if pending is not None and pending.state != State.DRAFT.value:
        raise Conflict(f"series {series_id} is not paused", state=pending.state)
    if pending is None:
        created = schedule_next(session, posts[0].id, now, Actor.USER)
        if created is None:
            raise Conflict(f"series {series_id} has ended", state="ended")
        return created
    when = recurrence.next_occurrence(pending.recurrence or "", pending.timezone or "UTC", now)
    if pending.recurrence_until is not None and when > pending.recurrence_until:
        raise Conflict(f"series {series_id} has ended", state="ended")
    return lifecycle.move(
        session,
        pending.id,
        Trigger.APPROVE,
        Actor.USER,
        now,
        reason="series resumed",
        changes={"scheduled_at": when, "next_run_at": when, "attempts": 0, "enqueued_at": None},
    )


def check_end(until: datetime | None, count: int | None) -> None:
    """Raises ``InvalidInput`` for a count below 1 or a naive ``until``."""
    if count is not None and count < 1:
        raise InvalidInput("recurrence_count", "must be at least 1")
    if until is not None and until.utcoffset() is None:
        raise InvalidInput("recurrence_until", "must carry a time zone offset")
