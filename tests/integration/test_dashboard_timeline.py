"""A post's timeline (``core.dashboard.timeline``) on SQLite and PostgreSQL: events and
calls interleaved in time order, steps, media by part, notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.dashboard import timeline
from publisher.core.models import Media, Notification, PostStep
from publisher.errors import NotFound
from tests.support.dashboard_rows import T0, call, credential, event, post

S = timedelta(seconds=1)


def _media(session: Session, alt: str) -> int:
    row = Media(source="upload", kind="image", content_type="image/png", size=10, alt=alt)
    session.add(row)
    session.flush()
    return row.id


def _label(entry: timeline.Entry) -> tuple[str, int]:
    if entry.event is not None:
        return "event", entry.event.id
    assert entry.call is not None
    return "call", entry.call.id


def test_events_and_calls_interleave_in_time_order(sessions: sessionmaker[Session]) -> None:
    # Given a post's history written out of order, with an event and a call at one instant
    with sessions.begin() as session:
        c = credential(session)
        first, second = _media(session, "one"), _media(session, "two")
        parts = [
            {"text": "a", "media": [{"id": second, "type": "image", "alt": "two"}]},
            {"text": "b", "media": [{"id": first, "type": "image", "alt": "one"}]},
        ]
        p = post(session, c, parts=parts)
        other = post(session, c)
        late_call = call(session, p, T0 + 5 * S, category="success", attempt=2)
        claim = event(session, p, T0, "start", from_state="approved", to_state="running")
        same_instant_call = call(session, p, T0, category="unavailable", status_code=503)
        defer = event(session, p, T0 + 2 * S, "defer")
        reclaim = event(session, p, T0 + 4 * S, "start", from_state="retry", to_state="running")
        done = event(session, p, T0 + 6 * S, "succeed", to_state="done")
        call(session, other, T0 + 3 * S)  # another post's
        event(session, other, T0 + 3 * S, "start")
        session.add(PostStep(post_id=p, key="p1", external_id="r2", attempt=2, at=T0 + 5 * S))
        session.add(PostStep(post_id=p, key="p0", external_id="r1", attempt=1, at=T0 + S))
        session.add(
            Notification(account_id=1, post_id=p, kind="gave_up", message="m", created_at=T0)
        )
        session.add(Notification(account_id=1, post_id=other, kind="x", message="m"))
    # When its timeline is read
    with sessions() as session:
        found = timeline.timeline(session, p)
        order = [_label(e) for e in found.entries]
        assert found.entries[1].call is not None
        assert found.entries[1].call.status_code == 503
    # Then events and calls come in time order, the event first at one instant
    assert order == [
        ("event", claim),
        ("call", same_instant_call),
        ("event", defer),
        ("event", reclaim),
        ("call", late_call),
        ("event", done),
    ]
    assert [s.key for s in found.steps] == ["p0", "p1"]
    assert [(m.part, m.id, m.alt) for m in found.media] == [(0, second, "two"), (1, first, "one")]
    assert [n.kind for n in found.notifications] == ["gave_up"]
    assert found.state == "done" and len(found.parts) == 2


def test_a_missing_post_is_not_found(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFound):
        timeline.timeline(session, 12345)
