"""Deciding what to do with a post: validate, authorize, and after the call (pure)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from publisher.engine.classify import Outcome
from publisher.engine.lock import Job
from publisher.engine.plan import Action, RetryPolicy, after_call, authorize, validate
from publisher.providers.base import Category, Published

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base=10.0, cap=3600.0)
JOB = Job(
    post_id=1,
    owner="w:1",
    version=2,
    attempt=1,
    max_attempts=3,
    text="hi",
    options={},
    idempotency_key="k",
    scheduled_at=NOW,
    first_started_at=NOW,
    lease_expires_at=NOW + timedelta(minutes=2),
    ambiguous=False,
    recurrence=None,
    timezone=None,
    series_id=None,
    account_id=1,
    billing_status="active",
    account_paused=False,
    credential_id=1,
    provider="mastodon",
    base_url="http://m",
    token_encrypted="x",
    credential_invalid=False,
    rate_limited_until=None,
    backoff="exponential",
    retry_base=None,
)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"billing_status": "past_due"}, "billing_inactive"),
        ({"billing_status": "suspended"}, "billing_inactive"),
        ({"account_paused": True}, "paused"),
    ],
)
def test_validate_cancels(change: dict[str, object], reason: str) -> None:
    decided = validate(replace(JOB, **change))  # type: ignore[arg-type]
    assert decided is not None and decided.action is Action.CANCEL and decided.reason == reason


def test_validate_passes_an_active_account() -> None:
    assert validate(JOB) is None


def test_authorize_invalid_credential_cancels_and_asks_to_reauthorize() -> None:
    decided = authorize(replace(JOB, credential_invalid=True), NOW, token_ok=True)
    assert decided is not None
    assert (decided.action, decided.reason, decided.notify) == (
        Action.CANCEL,
        "unauthorized",
        "reauthorize",
    )


def test_authorize_undecryptable_token_cancels() -> None:
    decided = authorize(JOB, NOW, token_ok=False)
    assert decided is not None and decided.reason == "unauthorized"


def test_authorize_rate_limited_credential_releases_until_the_limit() -> None:
    until = NOW + timedelta(seconds=30)
    decided = authorize(replace(JOB, rate_limited_until=until), NOW, token_ok=True)
    assert decided is not None
    assert (decided.action, decided.next_run_at) == (Action.RELEASE, until)


ROWS = [
    (Category.SUCCESS, False, Action.SUCCEED, None),
    (Category.UNAUTHORIZED, False, Action.CANCEL, "unauthorized"),
    (Category.FORBIDDEN, False, Action.CANCEL, "forbidden"),
    (Category.DUPLICATE, False, Action.CANCEL, "forbidden"),
    (Category.DUPLICATE, True, Action.SUCCEED, "duplicate after an ambiguous attempt"),
    (Category.UNAVAILABLE, False, Action.DEFER, "unavailable"),
    (Category.UNCLASSIFIED, False, Action.DEFER, "unclassified"),
]


@pytest.mark.parametrize(("category", "ambiguous", "action", "reason"), ROWS)
def test_after_call(
    category: Category, ambiguous: bool, action: Action, reason: str | None
) -> None:
    published = Published("9") if category is Category.SUCCESS else None
    decided = after_call(
        replace(JOB, ambiguous=ambiguous),
        Outcome(category, "msg", published=published),
        NOW,
        POLICY,
    )
    assert (decided.action, decided.reason) == (action, reason)


def test_unauthorized_invalidates_the_credential() -> None:
    decided = after_call(JOB, Outcome(Category.UNAUTHORIZED, "401"), NOW, POLICY)
    assert decided.invalidate_credential and decided.notify == "reauthorize"


def test_unclassified_is_reported() -> None:
    assert after_call(JOB, Outcome(Category.UNCLASSIFIED, "?"), NOW, POLICY).report
    assert not after_call(JOB, Outcome(Category.UNAVAILABLE, "503"), NOW, POLICY).report


def test_last_attempt_gives_up_to_draft() -> None:
    decided = after_call(replace(JOB, attempt=3), Outcome(Category.UNAVAILABLE, "503"), NOW, POLICY)
    assert decided.action is Action.GIVE_UP and decided.notify == "gave_up"


def test_retry_honours_retry_after_and_holds_the_credential() -> None:
    later = NOW + timedelta(minutes=10)
    decided = after_call(
        JOB, Outcome(Category.UNAVAILABLE, "429", not_before=later, rate_limited=True), NOW, POLICY
    )
    assert decided.next_run_at == later
    assert decided.hold_credential_until == later


def test_retry_delay_grows_per_attempt() -> None:
    rng = random.Random(1)
    waits = []
    for attempt in (1, 2, 3, 4):
        decided = after_call(
            replace(JOB, attempt=attempt, max_attempts=9),
            Outcome(Category.UNAVAILABLE, "503"),
            NOW,
            POLICY,
            rng,
        )
        assert decided.next_run_at is not None
        waits.append((decided.next_run_at - NOW).total_seconds())
    assert waits[0] <= 10 and waits[3] >= 40
    assert waits == sorted(waits)


def test_credential_backoff_overrides_the_default() -> None:
    decided = after_call(
        replace(JOB, backoff="constant", retry_base=7.0),
        Outcome(Category.UNAVAILABLE, "503"),
        NOW,
        POLICY,
    )
    assert decided.next_run_at == NOW + timedelta(seconds=7)


def test_ambiguity_is_sticky_until_success() -> None:
    decided = after_call(JOB, Outcome(Category.UNAVAILABLE, "timeout", ambiguous=True), NOW, POLICY)
    assert decided.ambiguous
    again = after_call(
        replace(JOB, ambiguous=True), Outcome(Category.UNAVAILABLE, "503"), NOW, POLICY
    )
    assert again.ambiguous
