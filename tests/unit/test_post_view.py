"""How a post's page prints its timeline and parts: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.core.dashboard.post_parts import parts
from publisher.core.dashboard.timeline import Entry, MediaEntry, StepEntry, Timeline
from publisher.core.models import ApiCall, PostEvent
from publisher.web import post_view

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _call(call_id: int, **fields: object) -> Entry:
    values: dict[str, object] = {
        "method": "POST",
        "request_headers": {},
        "response_headers": {},
        "category": "success",
    } | fields
    return Entry(T0, call=ApiCall(id=call_id, **values))


def _timeline(*entries: Entry, state: str = "retry", **fields: object) -> Timeline:
    values: dict[str, object] = {"parts": (), "steps": (), "media": (), "notifications": ()}
    return Timeline(1, state, entries=entries, **values | fields)  # type: ignore[arg-type]


def test_a_json_body_is_indented_and_a_long_one_collapsed() -> None:
    short = _call(1, request_headers={"Authorization": "[redacted]"}, request_body='{"a":1}')
    long = _call(2, response_body="x" * (post_view.SHORT_TEXT + 1))
    first, second = post_view.entries(_timeline(short, long))
    assert first.request is not None and first.request.short
    assert first.request.text == 'Authorization: [redacted]\n\n{\n  "a": 1\n}'
    assert first.response is None  # nothing came back
    assert second.response is not None and not second.response.short


def test_a_lookup_is_marked_as_one() -> None:
    lookup, create = post_view.entries(_timeline(_call(1, method="LOOKUP"), _call(2)))
    assert (lookup.lookup, create.lookup) == (True, False)


def test_the_fingerprint_changes_when_a_call_finishes_or_an_event_comes() -> None:
    before = post_view.fingerprint(_timeline(_call(1, category="in_flight")))
    assert post_view.fingerprint(_timeline(_call(1, category="in_flight"))) == before
    assert post_view.fingerprint(_timeline(_call(1, category="success"))) != before
    event = Entry(T0, event=PostEvent(id=1))
    assert post_view.fingerprint(_timeline(_call(1, category="in_flight"), event)) != before


def test_parts_carry_their_media_state_and_their_own_steps() -> None:
    # Given a two-part thread: part 1's file uploaded and part 1 created, part 2's file
    # still processing
    def step(key: str, ready: bool = True) -> StepEntry:
        return StepEntry(key, "id-" + key, None, ready, 1, T0 + timedelta(seconds=1))

    media = (
        MediaEntry(7, 0, "image", "image/png", 10, "a cat", "upload", None),
        MediaEntry(8, 1, "image", "image/png", 10, "", "upload", None),
    )
    steps = (step("p0.m0"), step("p0"), step("p1.m0", ready=False))
    stored = ({"text": "one", "media": [{"id": 7}]}, {"text": "two", "media": [{"id": 8}]})
    found = _timeline(parts=stored, steps=steps, media=media)
    # Then each part has its text, media state and steps; part 2 is not created yet
    first, second = parts(found, "one", None, None)
    assert (first.text, first.external_id, [s.key for s in first.steps]) == (
        "one",
        "id-p0",
        ["p0.m0", "p0"],
    )
    assert [(m.media.id, m.state, m.external_id) for m in first.media] == [
        (7, "uploaded", "id-p0.m0")
    ]
    assert (second.external_id, [m.state for m in second.media]) == (None, ["processing"])


def test_a_one_part_post_is_its_text_and_its_remote_id() -> None:
    (only,) = parts(_timeline(state="done"), "hello", "r1", "https://m.example/@a/r1")
    assert (only.text, only.external_id, only.external_url) == (
        "hello",
        "r1",
        "https://m.example/@a/r1",
    )
    assert only.media == () and only.steps == ()
