"""The posts list's filter form (``web.post_filter``): every field is read into its
``PostFilter`` field, written back so that reading it again gives the same filter, and a
bad value is refused naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from publisher.core.dashboard.post_search import PostFilter
from publisher.errors import InvalidInput
from publisher.web import post_filter
from publisher.web.post_filter import FILTER_FIELDS, Fields

T = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _parse(*pairs: tuple[str, str]) -> PostFilter:
    return post_filter.parse(Fields.of(pairs, FILTER_FIELDS))


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (
            [("state", "draft"), ("state", "retry")],
            PostFilter(states=frozenset({"draft", "retry"})),
        ),
        ([("provider", "bluesky")], PostFilter(provider="bluesky")),
        ([("account", "12")], PostFilter(account_id=12)),
        ([("credential", "7")], PostFilter(credential_id=7)),
        ([("category", "unavailable")], PostFilter(error_category="unavailable")),
        ([("cancel_reason", "unauthorized")], PostFilter(cancel_reason="unauthorized")),
        ([("ambiguous", "yes")], PostFilter(ambiguous=True)),
        ([("ambiguous", "no")], PostFilter(ambiguous=False)),
        ([("unconfirmed", "yes")], PostFilter(unconfirmed=True)),
        ([("unconfirmed", "no")], PostFilter(unconfirmed=False)),
        ([("scheduled_from", "2026-11-30T08:00")], PostFilter(scheduled_from=T)),
        ([("scheduled_to", "2026-11-30T09:00:00+01:00")], PostFilter(scheduled_to=T)),
        ([("text", "  50% off ")], PostFilter(text="50% off")),
        ([(name, "") for name in FILTER_FIELDS], PostFilter()),  # an empty form: no filter
    ],
)
def test_each_field_reads_into_its_filter_field(
    pairs: list[tuple[str, str]], expected: PostFilter
) -> None:
    assert _parse(*pairs) == expected


def test_fields_combine_and_write_back_to_the_same_filter() -> None:
    every = PostFilter(
        states=frozenset({"cancelled", "draft"}),
        provider="x",
        account_id=3,
        credential_id=4,
        error_category="forbidden",
        cancel_reason="forbidden",
        ambiguous=False,
        unconfirmed=True,
        scheduled_from=T.astimezone(timezone(timedelta(hours=-5))),
        scheduled_to=T + timedelta(days=1),
        text="a & b",
    )
    written = post_filter.query(every)
    assert {name for name, _ in written} == set(FILTER_FIELDS)
    assert _parse(*written) == every
    assert post_filter.query(PostFilter()) == []


@pytest.mark.parametrize(
    ("pairs", "field"),
    [
        ([("state", "running"), ("state", "sleeping")], "state"),
        ([("provider", "myspace")], "provider"),
        ([("account", "1"), ("account", "2")], "account"),
        ([("credential", "-3")], "credential"),
        ([("category", "DROP TABLE")], "category"),
        ([("cancel_reason", "x" * 41)], "cancel_reason"),
        ([("ambiguous", "true")], "ambiguous"),
        ([("scheduled_to", "30/11/2026")], "scheduled_to"),
        (
            [("scheduled_from", "2026-11-30T09:00"), ("scheduled_to", "2026-11-30T09:00")],
            "scheduled_to",
        ),
        ([("text", "t" * 201)], "text"),
        ([("states", "draft")], "states"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(pairs: list[tuple[str, str]], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _parse(*pairs)
    assert refused.value.field == field
