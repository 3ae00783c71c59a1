"""The dashboard's posts list (``core.dashboard.post_search``) on SQLite and PostgreSQL:
filters combine, pages neither skip nor repeat, counts and bulk ids agree with the pages.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.dashboard import post_search
from publisher.core.dashboard.post_search import PostFilter
from publisher.errors import InvalidInput
from tests.support.dashboard_rows import T0, credential, post

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Seeded:
    id: int
    state: str
    provider: str
    account_id: int
    credential_id: int
    fields: dict[str, Any]


def _seed(session: Session) -> list[Seeded]:
    """40 posts over 3 credentials (2 of one account) whose fields vary independently."""
    creds = [credential(session, "mastodon"), credential(session, "x")]
    owner = session.get(post_search.Credential, creds[0])
    assert owner is not None
    creds.append(credential(session, "x", account=owner.account_id))
    states = ["done", "cancelled", "draft", "retry"]
    seeded = []
    for i in range(40):
        cred = creds[i % 3]
        values = {
            "state": states[i % 4],
            "scheduled_at": T0 + (i % 5) * HOUR,
            "last_error_category": (
                "unconfirmed" if i % 13 == 5 else ["unavailable", None, "forbidden"][(i // 2) % 3]
            ),
            "cancel_reason": "unauthorized" if i % 4 == 1 and i % 3 == 0 else None,
            "ambiguous": i % 7 == 0,
            "unconfirmed_since": T0 if i % 11 == 0 else None,
            "text": f"post {i} {'50% off_sale' if i % 6 == 0 else 'plain'}",
        }
        made = post(session, cred, **values)
        stored = session.get(post_search.Post, made)
        assert stored is not None
        provider = "mastodon" if cred == creds[0] else "x"
        seeded.append(Seeded(made, values["state"], provider, stored.account_id, cred, values))
    return seeded


def _unconfirmed(v: dict[str, Any]) -> bool:
    return v["unconfirmed_since"] is not None or v["last_error_category"] == "unconfirmed"


def _matches(s: Seeded, f: PostFilter) -> bool:
    """The filter, in Python, over what was seeded."""
    v = s.fields
    checks = [
        not f.states or s.state in f.states,
        f.provider is None or s.provider == f.provider,
        f.account_id is None or s.account_id == f.account_id,
        f.credential_id is None or s.credential_id == f.credential_id,
        f.error_category is None or v["last_error_category"] == f.error_category,
        f.cancel_reason is None or v["cancel_reason"] == f.cancel_reason,
        f.ambiguous is None or v["ambiguous"] == f.ambiguous,
        f.unconfirmed is None or _unconfirmed(v) == f.unconfirmed,
        f.scheduled_from is None or v["scheduled_at"] >= f.scheduled_from,
        f.scheduled_to is None or v["scheduled_at"] < f.scheduled_to,
        not f.text or f.text.lower() in v["text"].lower(),
    ]
    return all(checks)


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> list[Seeded]:
    with sessions.begin() as session:
        return _seed(session)


def _filters(seeded: list[Seeded]) -> list[PostFilter]:
    first = seeded[0]
    return [
        PostFilter(),
        PostFilter(states=frozenset({"done", "retry"})),
        PostFilter(provider="x"),
        PostFilter(provider="x", account_id=first.account_id),
        PostFilter(credential_id=first.credential_id, states=frozenset({"done"})),
        PostFilter(error_category="unavailable", provider="x"),
        PostFilter(cancel_reason="unauthorized"),
        PostFilter(ambiguous=True),
        PostFilter(ambiguous=False, unconfirmed=False),
        PostFilter(unconfirmed=True),
        PostFilter(scheduled_from=T0 + HOUR, scheduled_to=T0 + 3 * HOUR),
        PostFilter(text="50% OFF_"),  # a LIKE wildcard is a plain character
        PostFilter(text="%"),
        PostFilter(text="_sale", states=frozenset({"done"}), scheduled_to=T0 + 2 * HOUR),
    ]


@pytest.mark.parametrize("counted", [False, True])  # the walk, or few matches sorted
def test_filters_combine_and_count_what_they_list(
    sessions: sessionmaker[Session], seeded: list[Seeded], counted: bool
) -> None:
    with sessions() as session:
        for f in _filters(seeded):
            expected = sorted((s.id for s in seeded if _matches(s, f)), reverse=True)
            matches = len(expected) if counted else None
            size = post_search.MAX_PAGE_SIZE
            listed = post_search.page(session, f, size=size, matches=matches)
            assert [r.id for r in listed.rows] == expected, f
            assert post_search.count(session, f) == len(expected), f
            assert listed.next_before is None


def test_each_filter_narrows_to_some_but_not_all(seeded: list[Seeded]) -> None:
    """Guards the table above against filters that match everything or nothing."""
    for f in _filters(seeded)[1:]:
        assert 0 < sum(_matches(s, f) for s in seeded) < len(seeded), f


def test_rows_carry_the_posts_fields(sessions: sessionmaker[Session], seeded: list[Seeded]) -> None:
    with sessions() as session:
        row = post_search.page(session, PostFilter(), size=1).rows[0]
    last = seeded[-1]
    assert (row.id, row.state, row.provider, row.credential_id) == (
        last.id,
        last.state,
        last.provider,
        last.credential_id,
    )
    assert row.text == last.fields["text"]
    assert row.scheduled_at == last.fields["scheduled_at"]


@pytest.mark.parametrize("counted", [False, True])
def test_pages_neither_skip_nor_repeat_while_posts_are_added(
    sessions: sessionmaker[Session], seeded: list[Seeded], counted: bool
) -> None:
    f = PostFilter(provider="x")
    expected = sorted((s.id for s in seeded if _matches(s, f)), reverse=True)
    seen: list[int] = []
    before = None
    with sessions() as session:
        for number in itertools.count():
            matches = len(expected) if counted else None
            page = post_search.page(session, f, before=before, size=4, matches=matches)
            seen += [r.id for r in page.rows]
            if number == 1:  # a new post between two pages lands before the first page
                with sessions.begin() as writer:
                    post(writer, seeded[1].credential_id)
            if page.next_before is None:
                break
            before = page.next_before
    assert seen == expected
    assert len(seen) > 8  # three pages at least


def test_bulk_ids_yield_every_match_once_in_batches(
    sessions: sessionmaker[Session], seeded: list[Seeded]
) -> None:
    f = PostFilter(states=frozenset({"done", "cancelled", "retry"}))
    expected = sorted(s.id for s in seeded if _matches(s, f))
    with sessions() as session:
        batches = list(post_search.all_ids(session, f, batch=4))
    assert [i for b in batches for i in b] == expected
    assert all(len(b) == 4 for b in batches[:-1]) and 1 <= len(batches[-1]) <= 4


def test_a_page_size_out_of_bounds_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(InvalidInput) as refused:
        post_search.page(session, PostFilter(), size=post_search.MAX_PAGE_SIZE + 1)
    assert refused.value.field == "size"


def test_the_filter_has_a_test_row_for_every_field(seeded: list[Seeded]) -> None:
    used = {
        field.name
        for f in _filters(seeded)
        for field in fields(f)
        if getattr(f, field.name) not in (None, frozenset())
    }
    assert used == {field.name for field in fields(PostFilter)}
