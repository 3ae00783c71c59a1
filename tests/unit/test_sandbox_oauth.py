"""The sandbox's X OAuth 2.0 token endpoint over HTTP: rotation, refusals, faults, and
the API's 401 for an expired token it issued (only for those)."""

from __future__ import annotations

import time

import pytest
import requests

from publisher.providers.oauth2 import OAUTH2, Grant, Refreshed, Rejected
from publisher.sandbox import Sandbox
from tests.unit.test_sandbox import http as http  # the fixtures
from tests.unit.test_sandbox import sandbox as sandbox


def tweet(http: requests.Session, sandbox: Sandbox, text: str, token: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return http.post(f"{sandbox.url}/2/tweets", json={"text": text}, headers=headers, timeout=5)


def _refresh(
    http: requests.Session, sandbox: Sandbox, token: str, secret: str | None = None
) -> requests.Response:
    call = OAUTH2.prepare(
        Grant(sandbox.url + "/2/oauth2/token", token, client_id="app", client_secret=secret)
    )
    return http.post(call.url, data=call.data, headers=dict(call.headers), timeout=5)


def test_a_refresh_rotates_and_a_spent_token_is_invalid_grant(
    http: requests.Session, sandbox: Sandbox
) -> None:
    grant = sandbox.oauth.issue()
    first = _refresh(http, sandbox, grant.refresh_token)
    read = OAUTH2.read(first.status_code, first.json())
    assert isinstance(read, Refreshed) and read.expires_in == 7200
    assert read.refresh_token and read.refresh_token != grant.refresh_token
    again = _refresh(http, sandbox, grant.refresh_token)
    refused = OAUTH2.read(again.status_code, again.json())
    assert isinstance(refused, Rejected) and refused.error == "invalid_grant"
    assert isinstance(OAUTH2.read(*_answer(_refresh(http, sandbox, read.refresh_token))), Refreshed)
    assert [(c.status, c.basic) for c in sandbox.oauth.calls] == [
        (200, False),
        (400, False),
        (200, False),
    ]


def _answer(response: requests.Response) -> tuple[int, object]:
    return response.status_code, response.json()


def test_a_confidential_client_is_read_from_basic(http: requests.Session, sandbox: Sandbox) -> None:
    grant = sandbox.oauth.issue()
    assert _refresh(http, sandbox, grant.refresh_token, secret="s3cret").status_code == 200
    assert [(c.client_id, c.basic) for c in sandbox.oauth.calls] == [("app", True)]


@pytest.mark.parametrize(("fault", "status"), [("503", 503), ("invalid_grant", 400)])
def test_faults_on_demand_spend_nothing(
    http: requests.Session, sandbox: Sandbox, fault: str, status: int
) -> None:
    grant = sandbox.oauth.issue()
    sandbox.oauth.fail(1, fault)
    assert _refresh(http, sandbox, grant.refresh_token).status_code == status
    assert _refresh(http, sandbox, grant.refresh_token).status_code == 200  # still live


def test_a_timeout_fault_answers_late(http: requests.Session, sandbox: Sandbox) -> None:
    sandbox.slow_seconds = 0.5
    sandbox.oauth.fail(1, "timeout")
    started = time.monotonic()
    assert _refresh(http, sandbox, "rt-any").status_code == 503
    assert time.monotonic() - started >= 0.5


def test_only_an_expired_issued_token_is_refused_and_a_grant_is_one_user(
    http: requests.Session, sandbox: Sandbox
) -> None:
    grant = sandbox.oauth.issue()
    assert tweet(http, sandbox, "before", token=grant.access_token).status_code == 201
    assert tweet(http, sandbox, "anyone", token="never-issued").status_code == 201
    sandbox.oauth.expire(grant.access_token)
    refused = tweet(http, sandbox, "expired", token=grant.access_token)
    assert refused.status_code == 401
    # The refreshed token acts for the same user: it sees the post made before
    fresh = _refresh(http, sandbox, grant.refresh_token).json()["access_token"]
    timeline = http.get(
        sandbox.url + "/2/users/42/tweets",
        headers={"Authorization": f"Bearer {fresh}"},
        timeout=5,
    )
    assert [t["text"] for t in timeline.json()["data"]] == ["before"]
