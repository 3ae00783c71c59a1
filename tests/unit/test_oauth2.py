"""The OAuth 2.0 refresh as values: the RFC 6749 §6 request, its answer read, and what
the engine makes of each result for the post (pure, table-driven)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from publisher.engine.lock import Job
from publisher.engine.plan import Action, RetryPolicy
from publisher.engine.refresh import Attempted, Status
from publisher.engine.refresh_when import CLAIM_MARGIN, WAIT_FOR_REFRESH, after_refresh, at_claim
from publisher.providers.oauth2 import (
    OAUTH2,
    Grant,
    Refreshed,
    Rejected,
    Transient,
    basic_auth,
    default_token_url,
)
from tests.unit.test_plan import JOB

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base=10.0, cap=3600.0)
URL = "https://api.x.com/2/oauth2/token"


def _form(data: bytes | None) -> dict[str, list[str]]:
    assert data is not None
    return parse_qs(data.decode())


def test_a_public_client_sends_its_id_in_the_form() -> None:
    call = OAUTH2.prepare(Grant(URL, "rt-1", client_id="app"))
    assert (call.method, call.url) == ("POST", URL)
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in call.headers
    assert _form(call.data) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt-1"],
        "client_id": ["app"],
    }


def test_a_confidential_client_authenticates_with_basic_not_the_form() -> None:
    call = OAUTH2.prepare(Grant(URL, "rt-1", client_id="app:1", client_secret="s e/cret"))
    assert _form(call.data) == {"grant_type": ["refresh_token"], "refresh_token": ["rt-1"]}
    # RFC 6749 §2.3.1: id and secret form-urlencoded first, then base64 of "id:secret"
    scheme, _, value = call.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "app%3A1:s+e%2Fcret"
    assert call.headers["Authorization"] == basic_auth("app:1", "s e/cret")


ISSUED = {"token_type": "bearer", "access_token": "at-2", "expires_in": 7200}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # 2xx (RFC 6749 §5.1)
        (200, {**ISSUED, "refresh_token": "rt-2"}, Refreshed("at-2", "rt-2", 7200.0)),
        (200, ISSUED, Refreshed("at-2", None, 7200.0)),  # no new refresh token: keep ours
        (200, {**ISSUED, "refresh_token": ""}, Refreshed("at-2", None, 7200.0)),  # never empty
        (200, {**ISSUED, "expires_in": "3600"}, Refreshed("at-2", None, 3600.0)),
        (200, {**ISSUED, "expires_in": None}, Refreshed("at-2", None, None)),
        (200, {**ISSUED, "expires_in": True}, Refreshed("at-2", None, None)),
        (200, {**ISSUED, "token_type": "Bearer"}, Refreshed("at-2", None, 7200.0)),
        (200, {"access_token": "at-2"}, Refreshed("at-2", None, None)),
        (200, {**ISSUED, "token_type": "mac"}, Transient),
        (200, {**ISSUED, "access_token": ""}, Transient),
        (200, {**ISSUED, "access_token": "at 2\r\nX: y"}, Transient),  # header injection
        (200, "{not json", Transient),
        (200, None, Transient),
        # RFC 6749 §5.2: the grant or the client is refused: re-authorize
        (400, {"error": "invalid_grant", "error_description": "spent"}, Rejected),
        (400, {"error": "invalid_request"}, Rejected),
        (401, {"error": "invalid_client"}, Rejected),
        (400, {"error": "unauthorized_client"}, Rejected),
        (400, {"error": "unsupported_grant_type"}, Rejected),
        (400, {"error": "invalid_scope"}, Rejected),
        # trouble at the endpoint: try again
        (400, {"error": "temporarily_unavailable"}, Transient),
        (400, "Bad Request", Transient),
        (429, {"error": "invalid_grant"}, Transient),
        (500, {"error": "invalid_grant"}, Transient),
        (503, "<html>down</html>", Transient),
        (None, None, Transient),
    ],
)
def test_reading_the_answer(status: int | None, body: Any, expected: Any) -> None:
    result = OAUTH2.read(status, body, "ReadTimeout" if status is None else None)
    if isinstance(expected, type):
        assert isinstance(result, expected), result
    else:
        assert result == expected


def test_a_rejection_names_the_code_and_description_bounded() -> None:
    result = OAUTH2.read(400, {"error": "invalid_grant", "error_description": "x" * 5000})
    assert isinstance(result, Rejected) and result.error == "invalid_grant"
    assert result.message.startswith("HTTP 400: invalid_grant (xxx") and len(result.message) < 400


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("x", "https://api.x.com/2/oauth2/token"),
        ("mastodon", "https://api.x.com/oauth/token"),
        ("webhook", None),
    ],
)
def test_default_token_urls(provider: str, expected: str | None) -> None:
    assert default_token_url(provider, "https://api.x.com/") == expected


REFRESHABLE = replace(JOB, provider="x", refreshable=True, ambiguous=True, attempt=2)


@pytest.mark.parametrize(
    ("job", "expires_in", "refresh_first"),
    [
        (REFRESHABLE, timedelta(0), True),
        (REFRESHABLE, -timedelta(hours=1), True),
        (REFRESHABLE, CLAIM_MARGIN, True),
        (REFRESHABLE, CLAIM_MARGIN + timedelta(seconds=1), False),
        (REFRESHABLE, None, False),  # expiry unknown: a 401 will tell
        (replace(REFRESHABLE, refreshable=False), timedelta(0), False),
    ],
)
def test_a_token_about_to_expire_is_refreshed_at_claim(
    job: Job, expires_in: timedelta | None, refresh_first: bool
) -> None:
    expires = None if expires_in is None else NOW + expires_in
    decided = at_claim(replace(job, expires_at=expires), NOW)
    if not refresh_first:
        assert decided is None
        return
    assert decided is not None and decided.refresh_credential
    assert decided.action is Action.RELEASE and decided.ambiguous  # refunded, flag kept


@pytest.mark.parametrize(
    ("status", "action", "next_run_at"),
    [
        # retried at once, or after the refresh in flight, the attempt refunded (RELEASE)
        (Status.REFRESHED, Action.RELEASE, NOW),
        (Status.ALREADY, Action.RELEASE, NOW),
        (Status.NOT_REFRESHABLE, Action.RELEASE, NOW),
        (Status.BUSY, Action.RELEASE, NOW + WAIT_FOR_REFRESH),
        (Status.REJECTED, Action.CANCEL, None),
        (Status.TRANSIENT, Action.DEFER, "later"),  # unavailable: backoff, attempt used
    ],
)
def test_what_the_post_does_after_the_refresh(
    status: Status, action: Action, next_run_at: Any
) -> None:
    decided = after_refresh(REFRESHABLE, Attempted(status, "why"), NOW, POLICY)
    assert decided.action is action
    if action is Action.RELEASE:  # (act keeps the flag on every other move)
        assert decided.ambiguous
    if next_run_at == "later":
        assert decided.next_run_at is not None and decided.next_run_at > NOW
    else:
        assert decided.next_run_at == next_run_at
    assert not decided.refresh_credential


def test_a_refused_grant_cancels_unauthorized_and_asks_to_reauthorize() -> None:
    decided = after_refresh(REFRESHABLE, Attempted(Status.REJECTED, "invalid_grant"), NOW, POLICY)
    assert (decided.reason, decided.notify) == ("unauthorized", "reauthorize")
    assert decided.invalidate_credential and "invalid_grant" in (decided.message or "")


def test_a_transient_failure_on_the_last_attempt_gives_up() -> None:
    last = replace(REFRESHABLE, attempt=REFRESHABLE.max_attempts)
    decided = after_refresh(last, Attempted(Status.TRANSIENT, "503"), NOW, POLICY)
    assert decided.action is Action.GIVE_UP and decided.category == "unavailable"
