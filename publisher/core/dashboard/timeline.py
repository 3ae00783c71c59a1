"""A post's page (issue 14): its history and its calls interleaved in time order, its
confirmed steps, its media and its notifications.

Calls come as the call log stored them: headers, bodies, URLs and errors were redacted
on the way in (``engine/call_log``), so nothing here can show a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core.models import ApiCall, Media, Notification, Post, PostEvent, PostStep
from publisher.errors import NotFound


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a history event or a provider call (exactly one set).

    The rows are the models' own, loaded (the API's ``EventOut.of`` and ``CallOut.of``
    render them): read them before the session commits, which expires them.
    """

    at: datetime  # the event's time, or the call's start
    event: PostEvent | None = None
    call: ApiCall | None = None


@dataclass(frozen=True)
class StepEntry:
    key: str
    external_id: str
    external_url: str | None
    ready: bool
    attempt: int
    at: datetime


@dataclass(frozen=True)
class MediaEntry:
    id: int
    part: int  # the part (0-based) that carries it
    kind: str | None
    content_type: str | None
    size: int | None
    alt: str
    source: str
    url: str | None


@dataclass(frozen=True)
class NotificationEntry:
    id: int
    kind: str
    message: str
    created_at: datetime
    delivered_at: datetime | None
    delivery_attempts: int


@dataclass(frozen=True)
class Timeline:
    post_id: int
    state: str
    parts: tuple[dict[str, Any], ...]  # as stored; empty for a one-part post
    entries: tuple[Entry, ...]  # events and calls, oldest first
    steps: tuple[StepEntry, ...]
    media: tuple[MediaEntry, ...]
    notifications: tuple[NotificationEntry, ...]


def _order(entry: Entry) -> tuple[datetime, int, int]:
    """Time, then an event before a call written in the same instant (a claim comes
    before the call it makes), then the row's id (insertion order)."""
    if entry.event is not None:
        return entry.at, 0, entry.event.id
    assert entry.call is not None
    return entry.at, 1, entry.call.id


def _events(session: Session, post_id: int) -> list[Entry]:
    rows = session.scalars(select(PostEvent).where(PostEvent.post_id == post_id))
    return [Entry(e.at, event=e) for e in rows]


def _calls(session: Session, post_id: int) -> list[Entry]:
    rows = session.scalars(select(ApiCall).where(ApiCall.post_id == post_id))
    return [Entry(c.started_at, call=c) for c in rows]


def _steps(session: Session, post_id: int) -> tuple[StepEntry, ...]:
    rows = session.scalars(
        select(PostStep).where(PostStep.post_id == post_id).order_by(PostStep.at, PostStep.id)
    )
    return tuple(
        StepEntry(s.key, s.external_id, s.external_url, s.ready, s.attempt, s.at) for s in rows
    )


def _media(session: Session, parts: list[dict[str, Any]]) -> tuple[MediaEntry, ...]:
    wanted = [(index, item["id"]) for index, part in enumerate(parts) for item in part["media"]]
    ids = {media_id for _index, media_id in wanted}
    found = {m.id: m for m in session.scalars(select(Media).where(Media.id.in_(ids)))}
    return tuple(
        MediaEntry(m.id, index, m.kind, m.content_type, m.size, m.alt, m.source, m.url)
        for index, media_id in wanted
        if (m := found.get(media_id)) is not None
    )


def _notifications(session: Session, post_id: int) -> tuple[NotificationEntry, ...]:
    rows = session.scalars(
        select(Notification).where(Notification.post_id == post_id).order_by(Notification.id)
    )
    return tuple(
        NotificationEntry(
            n.id, n.kind, n.message, n.created_at, n.delivered_at, n.delivery_attempts
        )
        for n in rows
    )


def timeline(session: Session, post_id: int) -> Timeline:
    """Everything recorded about one post; NotFound if there is no such post."""
    post = session.get(Post, post_id)
    if post is None:
        raise NotFound(f"post {post_id} not found", post_id=post_id)
    parts = list(post.parts or [])
    entries = sorted([*_events(session, post_id), *_calls(session, post_id)], key=_order)
    return Timeline(
        post_id=post.id,
        state=post.state,
        parts=tuple(parts),
        entries=tuple(entries),
        steps=_steps(session, post_id),
        media=_media(session, parts),
        notifications=_notifications(session, post_id),
    )
