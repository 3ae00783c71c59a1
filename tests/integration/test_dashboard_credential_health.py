"""A credential's and an account's health (``core.dashboard.credential_health``) on SQLite
and PostgreSQL: each field against rows written for it, the error rate's window at its
edges, the filters and the keyset pages, and unknown ids refused by name."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control
from publisher.core.dashboard import credential_health as ch
from publisher.core.dashboard.credential_health import (
    CallError,
    CredentialFilter,
    ErrorRate,
    Problem,
)
from publisher.core.models import Account, Credential
from publisher.errors import InvalidInput, NotFound
from tests.support.dashboard_rows import T0, call, credential, post

NOW = T0 + timedelta(hours=2)
HOUR = timedelta(hours=1)
MS = timedelta(milliseconds=1)
SECRET = "gAAAA-the-encrypted-token-never-read"


def _set(session: Session, credential_id: int, **values: object) -> None:
    row = session.get(Credential, credential_id)
    assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()


def test_each_field_comes_from_its_row(sessions: sessionmaker[Session]) -> None:
    # Given a credential with every mark set, and a quiet one of another provider
    with sessions.begin() as session:
        sick = credential(session, "mastodon")
        quiet = credential(session, "x")
        _set(
            session,
            sick,
            paused_at=T0,
            paused_by="ops-1",
            invalid_since=T0 + MS,
            last_error="refresh: invalid_grant",
            expires_at=NOW + HOUR,
            rate_limited_until=NOW + timedelta(minutes=5),
            token_encrypted=SECRET,
        )
        _set(session, quiet, rate_limited_until=NOW - MS)  # a hold already over
        for state in ("draft", "approved", "approved", "retry", "done", "cancelled"):
            post(session, sick, state=state)
        control.set_provider_paused(session, "mastodon", True, T0, by="ops-2")
    # When the page is read
    with sessions() as session:
        rows = ch.credentials(session, CredentialFilter(), NOW).rows
        detail = ch.credential(session, sick, NOW).health
    # Then every field is the row's, the list counting only unfinished posts
    first, second = rows
    assert (first.id, first.provider, first.base_url, first.account_name) == (
        sick,
        "mastodon",
        "http://x",
        "a",
    )
    assert (first.paused_by, first.paused_at, first.invalid_since) == ("ops-1", T0, T0 + MS)
    assert (first.refresh_error, first.expires_at) == ("refresh: invalid_grant", NOW + HOUR)
    assert first.held_until == NOW + timedelta(minutes=5)
    assert first.provider_paused and not second.provider_paused
    assert first.problems == (Problem.INVALID, Problem.PAUSED, Problem.HELD)
    assert first.posts == {"draft": 1, "approved": 2, "retry": 1}
    assert detail.posts == {"draft": 1, "approved": 2, "retry": 1, "done": 1, "cancelled": 1}
    assert second.held_until is None and second.problems == () and second.posts == {}
    # And no field holds the token
    assert all(SECRET not in str(getattr(first, f.name)) for f in fields(first))


def test_the_error_rate_counts_the_last_hour_from_its_first_instant(
    sessions: sessionmaker[Session],
) -> None:
    # Given calls at each edge of the hour before NOW, of two credentials
    with sessions.begin() as session:
        mine, other = credential(session), credential(session)
        p, q = post(session, mine), post(session, other)
        for at, category in [
            (NOW - HOUR - MS, "unavailable"),  # just before the window
            (NOW - HOUR, "unavailable"),  # its first instant
            (NOW - HOUR + MS, "success"),
            (NOW - timedelta(minutes=1), "reconciled"),  # a lookup that found it: fine
            (NOW - timedelta(seconds=30), "unauthorized"),
            (NOW - MS, "in_flight"),  # not finished: not counted
            (NOW, "success"),  # now itself
            (NOW + MS, "forbidden"),  # after now: not yet
        ]:
            call(session, p, at, category=category)
        call(session, q, NOW - MS, category="forbidden")
    # When the rates are read
    with sessions() as session:
        rates = ch.error_rates(session, [mine, other], NOW)
    # Then each call in [now - 1 h, now] counts once, for its own credential
    assert rates == {mine: ErrorRate(calls=5, failed=2), other: ErrorRate(1, 1)}
    assert rates[mine].rate == pytest.approx(0.4)
    assert ErrorRate(0, 0).rate is None


def test_the_last_error_is_the_newest_failure_within_a_day(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        mine, old, none = credential(session), credential(session), credential(session)
        p = post(session, mine)
        call(session, p, NOW - timedelta(hours=3), category="unauthorized", status_code=401)
        call(session, p, NOW - HOUR, category="unavailable_ambiguous", status_code=503)
        call(session, p, NOW - timedelta(minutes=1), category="success", status_code=200)
        call(session, post(session, old), NOW - ch.LAST_ERROR_LOOKBACK - MS, category="forbidden")
        call(session, post(session, none), NOW - MS, category="success")
    with sessions() as session:
        found = ch.last_errors(session, [mine, old, none], NOW)
        detail = ch.credential(session, mine, NOW)
    assert found == {mine: CallError("unavailable_ambiguous", NOW - HOUR, 503)}
    # The page's "why invalid" is the last refused call, and its calls of the hour by kind
    assert detail.refused_at == CallError("unauthorized", NOW - timedelta(hours=3), 401)
    assert detail.categories == {"success": 1, "unavailable_ambiguous": 1}


def test_filters_and_keyset_pages(sessions: sessionmaker[Session]) -> None:
    # Given credentials with one problem each, of two providers
    with sessions.begin() as session:
        ids = [credential(session, "mastodon" if i % 2 else "x") for i in range(7)]
        _set(session, ids[0], invalid_since=T0)
        _set(session, ids[1], paused_at=T0, paused_by="ops")
        _set(session, ids[2], rate_limited_until=NOW + MS)
        _set(session, ids[3], rate_limited_until=NOW)  # ends now: no longer held
    with sessions() as session:

        def found(**given: object) -> list[int]:
            page = ch.credentials(session, CredentialFilter(**given), NOW)  # type: ignore[arg-type]
            return [row.id for row in page.rows]

        assert found(problem=Problem.INVALID) == [ids[0]]
        assert found(problem=Problem.PAUSED) == [ids[1]]
        assert found(problem=Problem.HELD) == [ids[2]]
        assert found(provider="x") == ids[0::2]
        assert found(provider="mastodon", problem=Problem.PAUSED) == [ids[1]]
        # Pages of 3 cover every credential once, in id order
        seen, after = [], None
        while True:
            page = ch.credentials(session, CredentialFilter(), NOW, after=after, size=3)
            seen += [row.id for row in page.rows]
            if page.after is None:
                break
            after = page.after
        assert seen == ids
        with pytest.raises(InvalidInput, match="unknown provider 'myspace'"):
            CredentialFilter(provider="myspace")
        with pytest.raises(InvalidInput):
            ch.credentials(session, CredentialFilter(), NOW, size=0)


def test_an_account_and_unknown_ids(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = credential(session)
        owner = session.get(Credential, first)
        assert owner is not None
        second = credential(session, "x", account=owner.account_id)
        credential(session)  # another account's
        account_row = session.get(Account, owner.account_id)
        assert account_row is not None
        account_row.paused, account_row.billing_status = True, "past_due"
        post(session, first, state="draft")
        post(session, second, state="retry")
        post(session, second, state="retry")
        post(session, second, state="done")  # finished: not counted
    with sessions() as session:
        found = ch.account(session, owner.account_id, NOW)
        assert (found.paused, found.billing_status) == (True, "past_due")
        assert found.posts == {"draft": 1, "retry": 2}
        assert [c.id for c in found.credentials.rows] == [first, second]
        with pytest.raises(NotFound, match="credential 999 not found"):
            ch.credential(session, 999, NOW)
        with pytest.raises(NotFound, match="account 999 not found"):
            ch.account(session, 999, NOW)


def test_provider_switches_name_who_and_when(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        control.set_provider_paused(session, "x", True, T0, by="ops")
    with sessions() as session:
        switches = {s.name: s for s in ch.provider_switches(session)}
    assert (switches["x"].paused, switches["x"].by, switches["x"].at) == (True, "ops", T0)
    assert not switches["mastodon"].paused and switches["mastodon"].by is None
