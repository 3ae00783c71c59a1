"""Credentials and accounts (issue 14): is each credential able to publish, and if not, why?

A credential's health is read from its row (paused by whom and when, invalid since when,
its token's expiry, the rate-limit hold a 429 left: ``rate_limited_until``), from the call
log (its recent error rate, its last error) and from its posts (how many in each state).
Never its token, refresh token, client secret or app password: those columns are not even
selected. The call log has no credential column, so its queries read one indexed time range
of ``api_calls.started_at`` (an hour, a day), joined to the calls' posts by primary key,
and the posts are counted from ``ix_posts_credential_state`` / ``ix_posts_account_state``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from publisher.core import control
from publisher.core.constants import IN_FLIGHT, NOT_FOUND, RECONCILED
from publisher.core.dashboard.switches import Scope, switches_on
from publisher.core.models import Account, ApiCall, Credential, Post
from publisher.core.states import State
from publisher.errors import InvalidInput, NotFound
from publisher.providers import PROVIDERS
from publisher.providers.base import Category

# The recent error rate's window: long enough to mean something at a few posts an hour,
# short enough to show a problem that started now (and one indexed range of api_calls).
ERROR_RATE_WINDOW = timedelta(hours=1)
# How far back the last error is looked for: one day of calls, an indexed range; an error
# older than that is no longer news (the credential's own marks say what lasts).
LAST_ERROR_LOOKBACK = timedelta(days=1)
# Call-log categories that are not failures: the post was created (or found created), or a
# lookup answered. "in_flight" is neither: a call not finished yet is not counted at all.
FINE = (Category.SUCCESS.value, Category.DUPLICATE.value, RECONCILED, NOT_FOUND)
# What a list row counts: the states a post can still leave.
UNFINISHED = tuple(s.value for s in (State.DRAFT, State.APPROVED, State.RUNNING, State.RETRY))
PAGE_SIZE = 50  # credentials a page: one screen of a laptop
MAX_PAGE_SIZE = 500  # bounds one page's queries and render


class Problem(enum.StrEnum):
    INVALID = "invalid"  # the provider refused its token: nothing publishes until replaced
    PAUSED = "paused"  # its kill switch is on: its posts wait
    HELD = "held"  # a 429 told it to wait until a time: its posts wait until then


@dataclass(frozen=True)
class CredentialFilter:
    provider: str | None = None
    problem: Problem | None = None
    account_id: int | None = None

    def __post_init__(self) -> None:
        if self.provider is not None and self.provider not in PROVIDERS:
            known = ", ".join(sorted(PROVIDERS))
            raise InvalidInput("provider", f"unknown provider {self.provider!r}: one of {known}")


@dataclass(frozen=True)
class CallError:
    category: str
    at: datetime
    status: int | None  # the provider's HTTP status; None: no answer (a timeout, a crash)


@dataclass(frozen=True)
class ErrorRate:
    calls: int  # finished calls started in the window
    failed: int  # of those, the ones whose category is not ``FINE``

    @property
    def rate(self) -> float | None:
        """``failed / calls``; None when there was no call."""
        return self.failed / self.calls if self.calls else None


@dataclass(frozen=True)
class CredentialHealth:
    id: int
    account_id: int
    account_name: str
    provider: str
    base_url: str
    paused_by: str | None
    paused_at: datetime | None
    provider_paused: bool  # its network's switch is on (``control``)
    invalid_since: datetime | None
    refresh_error: str | None  # the last failed OAuth refresh's (scrubbed) message
    expires_at: datetime | None  # the access token's expiry (OAuth); None: unknown
    held_until: datetime | None  # a rate-limit hold still in force at ``now``
    last_error: CallError | None  # within ``LAST_ERROR_LOOKBACK``
    recent: ErrorRate  # within ``ERROR_RATE_WINDOW``
    posts: Mapping[str, int] = field(default_factory=dict)  # by state

    @property
    def problems(self) -> tuple[Problem, ...]:
        found = (
            (Problem.INVALID, self.invalid_since is not None),
            (Problem.PAUSED, self.paused_at is not None),
            (Problem.HELD, self.held_until is not None),
        )
        return tuple(problem for problem, on in found if on)


@dataclass(frozen=True)
class CredentialPage:
    rows: tuple[CredentialHealth, ...]
    after: int | None  # the next page starts after this id; None: the last page


@dataclass(frozen=True)
class CredentialDetail:
    health: CredentialHealth
    categories: Mapping[str, int]  # its calls in the error-rate window, by category
    refused_at: CallError | None  # its last ``unauthorized`` call (why it is invalid)


@dataclass(frozen=True)
class AccountHealth:
    id: int
    name: str
    billing_status: str
    paused: bool
    max_lateness: float | None
    posts: Mapping[str, int]  # unfinished, by state
    credentials: CredentialPage


def _where(f: CredentialFilter, now: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.provider is not None:
        where.append(Credential.provider == f.provider)
    if f.account_id is not None:
        where.append(Credential.account_id == f.account_id)
    if f.problem is Problem.INVALID:
        where.append(Credential.invalid_since.is_not(None))
    elif f.problem is Problem.PAUSED:
        where.append(Credential.paused_at.is_not(None))
    elif f.problem is Problem.HELD:
        where.append(Credential.rate_limited_until > now)
    return where


# Every column a page shows; the secrets' columns are never among them.
_COLUMNS = select(
    Credential.id,
    Credential.account_id,
    Account.name,
    Credential.provider,
    Credential.base_url,
    Credential.paused_by,
    Credential.paused_at,
    Credential.invalid_since,
    Credential.last_error,
    Credential.expires_at,
    Credential.rate_limited_until,
).join(Account, Account.id == Credential.account_id)


def _calls_of(ids: Iterable[int], since: datetime, now: datetime) -> list[ColumnElement[bool]]:
    """The calls of credentials ``ids`` started in [since, now] (joined to their posts)."""
    return [
        ApiCall.started_at >= since,
        ApiCall.started_at <= now,
        Post.credential_id.in_(list(ids)),
    ]


def error_rates(session: Session, ids: Iterable[int], now: datetime) -> dict[int, ErrorRate]:
    """Finished calls and failed calls per credential, started in the last
    ``ERROR_RATE_WINDOW`` (its start included)."""
    failed = func.sum(case((ApiCall.category.in_(FINE), 0), else_=1))
    rows = session.execute(
        select(Post.credential_id, func.count(), failed)
        .join(Post, Post.id == ApiCall.post_id)
        .where(*_calls_of(ids, now - ERROR_RATE_WINDOW, now), ApiCall.category != IN_FLIGHT)
        .group_by(Post.credential_id)
    )
    return {credential: ErrorRate(int(n), int(bad or 0)) for credential, n, bad in rows}


def last_errors(
    session: Session, ids: Iterable[int], now: datetime, categories: tuple[str, ...] = ()
) -> dict[int, CallError]:
    """Each credential's latest failed call (of ``categories``, if given) started in the
    last ``LAST_ERROR_LOOKBACK``."""
    kind = ApiCall.category.in_(categories) if categories else ApiCall.category.not_in(FINE)
    newest = (
        func.row_number()
        .over(
            partition_by=Post.credential_id, order_by=(ApiCall.started_at.desc(), ApiCall.id.desc())
        )
        .label("newest")
    )
    ranked = (
        select(
            Post.credential_id, ApiCall.category, ApiCall.started_at, ApiCall.status_code, newest
        )
        .join(Post, Post.id == ApiCall.post_id)
        .where(*_calls_of(ids, now - LAST_ERROR_LOOKBACK, now), ApiCall.category != IN_FLIGHT, kind)
        .subquery()
    )
    rows = session.execute(
        select(
            ranked.c.credential_id, ranked.c.category, ranked.c.started_at, ranked.c.status_code
        ).where(ranked.c.newest == 1)
    )
    return {
        credential: CallError(category, at, status) for credential, category, at, status in rows
    }


def posts_by_state(
    session: Session, ids: Iterable[int], states: tuple[str, ...] = ()
) -> dict[int, dict[str, int]]:
    """Posts per credential and state (from ``ix_posts_credential_state`` alone); only
    ``states`` when given."""
    where = [Post.credential_id.in_(list(ids))]
    if states:
        where.append(Post.state.in_(states))
    rows = session.execute(
        select(Post.credential_id, Post.state, func.count())
        .where(*where)
        .group_by(Post.credential_id, Post.state)
    )
    found: dict[int, dict[str, int]] = {}
    for credential, state, count in rows:
        found.setdefault(credential, {})[state] = count
    return found


def _health(
    rows: list[Any], session: Session, now: datetime, states: tuple[str, ...]
) -> tuple[CredentialHealth, ...]:
    ids = [row.id for row in rows]
    if not ids:
        return ()
    rates, errors = error_rates(session, ids, now), last_errors(session, ids, now)
    posts = posts_by_state(session, ids, states)
    providers_paused = control.pauses(session).providers
    return tuple(
        CredentialHealth(
            id=row.id,
            account_id=row.account_id,
            account_name=row.name,
            provider=row.provider,
            base_url=row.base_url,
            paused_by=row.paused_by,
            paused_at=row.paused_at,
            provider_paused=row.provider in providers_paused,
            invalid_since=row.invalid_since,
            refresh_error=row.last_error,
            expires_at=row.expires_at,
            held_until=row.rate_limited_until if _after(row.rate_limited_until, now) else None,
            last_error=errors.get(row.id),
            recent=rates.get(row.id, ErrorRate(0, 0)),
            posts=posts.get(row.id, {}),
        )
        for row in rows
    )


def _after(value: datetime | None, now: datetime) -> bool:
    return value is not None and value > now


def credentials(
    session: Session,
    f: CredentialFilter,
    now: datetime,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> CredentialPage:
    """One page of the credentials matching ``f``, by id (keyset: those after ``after``),
    each with its unfinished posts by state."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput("size", f"a page holds 1 to {MAX_PAGE_SIZE} credentials")
    where = _where(f, now)
    if after is not None:
        where.append(Credential.id > after)
    rows = list(session.execute(_COLUMNS.where(*where).order_by(Credential.id).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return CredentialPage(_health(rows, session, now, UNFINISHED), rows[-1].id if more else None)


def credential(session: Session, credential_id: int, now: datetime) -> CredentialDetail:
    """One credential's health (its posts in every state), its recent calls by category
    and its last refused call; ``NotFound`` naming the id when there is none."""
    rows = list(session.execute(_COLUMNS.where(Credential.id == credential_id)))
    if not rows:
        raise NotFound(f"credential {credential_id} not found", field="credential_id")
    (health,) = _health(rows, session, now, ())
    categories = session.execute(
        select(ApiCall.category, func.count())
        .join(Post, Post.id == ApiCall.post_id)
        .where(*_calls_of([credential_id], now - ERROR_RATE_WINDOW, now))
        .group_by(ApiCall.category)
        .order_by(ApiCall.category)
    )
    refused = last_errors(session, [credential_id], now, ("unauthorized",)).get(credential_id)
    return CredentialDetail(health, {category: n for category, n in categories}, refused)


def account(session: Session, account_id: int, now: datetime) -> AccountHealth:
    """One account: its switches, its unfinished posts by state (seeks in
    ``ix_posts_account_state``: its finished millions are not counted) and the first page of
    its credentials' health; ``NotFound`` naming the id when there is none."""
    row = session.get(Account, account_id)
    if row is None:
        raise NotFound(f"account {account_id} not found", field="account_id")
    counts = session.execute(
        select(Post.state, func.count())
        .where(Post.account_id == account_id, Post.state.in_(UNFINISHED))
        .group_by(Post.state)
    )
    return AccountHealth(
        id=row.id,
        name=row.name,
        billing_status=row.billing_status,
        paused=row.paused,
        max_lateness=row.max_lateness,
        posts={state: n for state, n in counts},
        credentials=credentials(session, CredentialFilter(account_id=account_id), now),
    )


@dataclass(frozen=True)
class ProviderSwitch:
    name: str
    paused: bool
    by: str | None
    at: datetime | None


def provider_switches(session: Session) -> tuple[ProviderSwitch, ...]:
    """Every provider publisher knows, with its kill switch (who set it and when)."""
    on = {s.target: s for s in switches_on(session) if s.scope is Scope.PROVIDER}
    off = ProviderSwitch("", False, None, None)
    return tuple(
        ProviderSwitch(name, True, on[name].by, on[name].at)
        if name in on
        else replace(off, name=name)
        for name in sorted(PROVIDERS)
    )
