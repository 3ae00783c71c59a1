"""How a group member's fields are resolved from shared values and overrides, and how a
refusal of one of them is named in the request's terms (pure logic, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.core.service.group_members import Member, resolve
from publisher.errors import InvalidInput

SHARED: dict[str, Any] = {
    "text": "shared",
    "media": None,
    "parts": None,
    "options": {"a": 1},
    "max_attempts": 3,
}
THREAD = [{"text": "1/2"}, {"text": "2/2"}]


@pytest.mark.parametrize(
    ("overrides", "text", "options", "text_from", "options_from"),
    [
        ({}, "shared", {"a": 1}, "text", "options"),
        ({"x": {"text": "for x"}}, "for x", {"a": 1}, "overrides.x.text", "options"),
        ({"mastodon": {"text": "not mine"}}, "shared", {"a": 1}, "text", "options"),
        (
            {"x": {"text": "for x", "options": {"b": 2}}, "7": {"text": "for 7"}},
            "for 7",
            {"b": 2},  # an override's options replace the shared ones whole
            "overrides.7.text",
            "overrides.x.options",
        ),
        ({"7": {"text": None}}, "shared", {"a": 1}, "text", "options"),  # null: not overridden
    ],
)
def test_the_most_specific_value_wins(
    overrides: dict[str, dict[str, Any]],
    text: str,
    options: dict[str, Any],
    text_from: str,
    options_from: str,
) -> None:
    member = resolve(0, 7, "x", SHARED, overrides)
    assert (member.fields["text"], member.fields["options"]) == (text, options)
    assert member.fields["max_attempts"] == 3  # a field no override sets is shared
    assert (member.field_of("text"), member.field_of("options")) == (text_from, options_from)


@pytest.mark.parametrize(
    ("shared", "overrides", "content"),
    [
        # Parts given for X replace the shared text (and media) for X
        ({}, {"x": {"parts": THREAD}}, (None, None, THREAD)),
        ({"media": [{"id": 1}]}, {"x": {"parts": THREAD}}, (None, None, THREAD)),
        # A text given for the credential replaces X's thread, not the shared media
        (
            {"media": [{"id": 1}]},
            {"x": {"parts": THREAD}, "7": {"text": "one"}},
            ("one", None, None),
        ),
        ({"text": None, "parts": THREAD}, {"7": {"text": "one"}}, ("one", None, None)),
        ({"text": None, "parts": THREAD}, {"x": {"media": [{"id": 2}]}}, None),
        # Media alone replaces the shared media, text stays
        ({"media": [{"id": 1}]}, {"x": {"media": []}}, ("shared", [], None)),
    ],
)
def test_text_and_parts_replace_each_other_level_by_level(
    shared: dict[str, Any],
    overrides: dict[str, dict[str, Any]],
    content: tuple[Any, Any, Any] | None,
) -> None:
    if content is None:  # media over a shared thread leaves no text: refused, named
        with pytest.raises(InvalidInput, match="credential 7 \\(x\\) has no text"):
            resolve(0, 7, "x", SHARED | shared, overrides)
        return
    fields = resolve(0, 7, "x", SHARED | shared, overrides).fields
    assert (fields["text"], fields["media"], fields["parts"]) == content


def test_a_member_without_text_is_refused_naming_where_to_give_it() -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve(2, 9, "mastodon", SHARED | {"text": None}, {"x": {"text": "only x"}})
    assert refused.value.field == "text"
    assert "credential 9 (mastodon) has no text" in refused.value.message
    assert "overrides.mastodon.text" in refused.value.message


@pytest.mark.parametrize(
    ("refused", "named"),
    [
        ("text", "overrides.x.text"),
        ("options", "options"),
        ("options.spoiler_text", "options.spoiler_text"),
        ("media[1].id", "overrides.x.media[1].id"),
        ("parts[2].text", "parts[2].text"),
        ("credential_id", "credential_ids[4]"),
        ("scheduled_at", "scheduled_at"),
        ("textual", "textual"),  # only a whole name (or its parts) is mapped
    ],
)
def test_a_refusal_is_named_where_the_request_gave_the_value(refused: str, named: str) -> None:
    member = Member(
        4,
        7,
        "x",
        {},
        {
            "text": "overrides.x.text",
            "options": "options",
            "media": "overrides.x.media",
            "parts": "parts",
        },
    )
    assert member.field_of(refused) == named
