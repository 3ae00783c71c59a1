"""Deciding what to do with a post: validate, authorize, and after the call (pure)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from publisher.engine.classify import Outcome
from publisher.engine.lock import Job
from publisher.engine.plan import (
    Action,
    Reconciled,
    ResendRules,
    RetryPolicy,
    after_call,
    authorize,
    before_call,
    validate,
)
from publisher.engine.plan import (
    missed as plan_missed,
)
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
    unconfirmed_since=None,
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


def test_authorize_undecryptable_token_releases_untouched_for_minutes() -> None:
    # An engine fault (a missing or wrong key), not the user's: no cancel, no notification
    for job in (JOB, replace(JOB, credential_invalid=True, ambiguous=True)):
        decided = authorize(job, NOW, token_ok=False)
        assert decided is not None
        assert decided.action is Action.RELEASE and decided.notify is None
        assert not decided.invalidate_credential and decided.category is None
        assert decided.next_run_at is not None and decided.next_run_at >= NOW + timedelta(minutes=1)
        assert decided.ambiguous == job.ambiguous


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


# --- before a call, after a lookup for an ambiguous post ----------------------------------

AMBIGUOUS = replace(JOB, ambiguous=True, first_started_at=NOW - timedelta(minutes=10))
MASTODON_RULES = ResendRules(
    timedelta(hours=1), can_lookup=True, reconcile_timeout=timedelta(hours=1)
)
X_RULES = ResendRules(None, can_lookup=True, reconcile_timeout=timedelta(hours=1))
NO_KEY_NO_LOOKUP = ResendRules(None, can_lookup=False, reconcile_timeout=timedelta(hours=1))
FOUND = Published("77", "https://x.example/77")
NOT_THERE = Reconciled(found=None, known=True)
UNKNOWN = Reconciled(found=None, known=False)


def test_a_found_post_succeeds_without_a_call() -> None:
    decided = before_call(AMBIGUOUS, Reconciled(FOUND, True), X_RULES, NOW, POLICY)
    assert decided is not None
    assert (decided.action, decided.published) == (Action.SUCCEED, FOUND)


@pytest.mark.parametrize("rules", [MASTODON_RULES, X_RULES, NO_KEY_NO_LOOKUP])
def test_a_lookup_that_says_not_there_lets_the_call_go(rules: ResendRules) -> None:
    assert before_call(AMBIGUOUS, NOT_THERE, rules, NOW, POLICY) is None


def test_a_key_that_still_covers_every_attempt_lets_the_call_go() -> None:
    assert before_call(AMBIGUOUS, UNKNOWN, MASTODON_RULES, NOW, POLICY) is None


def test_a_key_the_provider_has_forgotten_is_not_relied_on() -> None:
    old = replace(AMBIGUOUS, first_started_at=NOW - timedelta(hours=2))
    decided = before_call(old, UNKNOWN, MASTODON_RULES, NOW, POLICY)
    assert decided is not None and decided.action is Action.RELEASE


def test_without_a_key_an_unknown_lookup_waits_without_using_an_attempt() -> None:
    decided = before_call(AMBIGUOUS, UNKNOWN, X_RULES, NOW, POLICY)
    assert decided is not None
    assert decided.action is Action.RELEASE  # the attempt is refunded
    assert decided.unconfirmed_since == NOW and decided.ambiguous
    assert decided.next_run_at == NOW + timedelta(seconds=POLICY.base)


def test_the_wait_doubles_up_to_the_cap() -> None:
    waiting = replace(AMBIGUOUS, unconfirmed_since=NOW - timedelta(minutes=5))
    decided = before_call(waiting, UNKNOWN, X_RULES, NOW, POLICY)
    assert decided is not None and decided.next_run_at == NOW + timedelta(minutes=5)
    assert decided.unconfirmed_since == waiting.unconfirmed_since  # the clock keeps running


def test_after_the_reconcile_timeout_the_post_returns_to_draft_unconfirmed() -> None:
    waiting = replace(AMBIGUOUS, unconfirmed_since=NOW - timedelta(hours=1))
    decided = before_call(waiting, UNKNOWN, X_RULES, NOW, POLICY)
    assert decided is not None
    assert (decided.action, decided.reason, decided.notify) == (
        Action.GIVE_UP,
        "unconfirmed",
        "unconfirmed",
    )
    assert decided.ambiguous and not decided.attempt_used


def test_no_key_and_no_lookup_returns_to_draft_at_once() -> None:
    decided = before_call(AMBIGUOUS, UNKNOWN, NO_KEY_NO_LOOKUP, NOW, POLICY)
    assert decided is not None and decided.action is Action.GIVE_UP


def test_a_duplicate_rejection_after_an_ambiguous_attempt_is_success_not_forbidden() -> None:
    outcome = Outcome(Category.DUPLICATE, "HTTP 409", published=FOUND)
    decided = after_call(AMBIGUOUS, outcome, NOW, POLICY)
    assert (decided.action, decided.published) == (Action.SUCCEED, FOUND)


# --- lateness --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "default", "late", "missed"),
    [
        (None, None, 86_400, False),  # no limit anywhere: publish however late
        (60.0, None, 59, False),
        (60.0, None, 61, True),
        (None, 60.0, 61, True),  # the setting's default
        (3600.0, 60.0, 61, False),  # the post's (or account's) own limit wins
    ],
)
def test_a_post_claimed_past_its_lateness_limit_is_missed(
    own: float | None, default: float | None, late: int, missed: bool
) -> None:
    job = replace(JOB, max_lateness=own, scheduled_at=NOW - timedelta(seconds=late))
    decided = plan_missed(job, NOW, default)
    if not missed:
        assert decided is None
    else:
        assert decided is not None
        assert (decided.action, decided.reason, decided.notify) == (
            Action.GIVE_UP,
            "missed",
            "missed",
        )
        assert not decided.attempt_used
