"""OAuth credentials end to end: real ``celery worker`` and beat processes, Redis, SQLite
or PostgreSQL, and the sandbox's X (strict: every create creates) with its OAuth 2.0
token endpoint, which rotates refresh tokens (a spent one is ``invalid_grant``).

Each test makes its own account, credential and grant (``sandbox.oauth.issue()``), and
counts only the refresh calls of its own grant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.api.schemas import CredentialOut
from publisher.core import control, service
from publisher.core.models import Credential, PostEvent, utcnow
from publisher.core.service import OAuthFields
from publisher.sandbox import Sandbox
from publisher.sandbox.oauth import Grant, RefreshCall
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CLIENT_SECRET = "client-secret-canary"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """Two publishing workers racing for every post, beat and the control worker."""
    workdir = tmp_path_factory.mktemp(f"oauth-{request.param}")
    url = _database(request, workdir)
    with RedisServer() as redis_server, Sandbox(slow_seconds=3.0, strict=True) as sandbox:
        running = Pipeline(workdir, url, redis_server.url, sandbox)
        running.start_worker("worker", concurrency=2)
        running.start_worker("worker2", concurrency=2)
        running.start_beat()
        yield running
        running.stop()


def _database(request: pytest.FixtureRequest, workdir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{workdir / 'publisher.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"oauth_{workdir.name.replace('-', '_')}")


def _credential(
    pipeline: Pipeline, account: int, grant: Grant, expires_in: float | None, **fields: str
) -> int:
    expires_at = None if expires_in is None else utcnow() + timedelta(seconds=expires_in)
    oauth = OAuthFields(
        refresh_token=fields.pop("refresh_token", grant.refresh_token),
        expires_at=expires_at,
        client_id="app-1",
        **fields,
    )
    return pipeline.credential(account, "x", token=grant.access_token, oauth_fields=oauth)


def _connected(
    pipeline: Pipeline, expires_in: float | None, expired: bool = True, **fields: str
) -> tuple[Grant, int, int]:
    """A new grant (its access token expired at X when ``expired``), an account and its
    credential holding the grant: (grant, account id, credential id)."""
    grant = pipeline.sandbox.oauth.issue()
    if expired:
        pipeline.sandbox.oauth.expire(grant.access_token)
    account = pipeline.account()
    return grant, account, _credential(pipeline, account, grant, expires_in, **fields)


def _calls(pipeline: Pipeline, grant: Grant) -> list[RefreshCall]:
    """The refresh calls of ``grant``'s chain of refresh tokens, in order."""
    chain, mine = {grant.refresh_token}, []
    for call in pipeline.sandbox.oauth.calls:
        if call.refresh_token in chain:
            mine.append(call)
            if call.rotated:
                chain.add(call.rotated)
    return mine


def _row(pipeline: Pipeline, credential_id: int) -> Credential:
    with pipeline.sessions() as session:
        row = session.get(Credential, credential_id)
        assert row is not None
        return row


def _published_once(pipeline: Pipeline, post_ids: list[int], attempts: int = 1) -> None:
    posts = pipeline.wait_final(post_ids, timeout=90)
    for post in posts.values():
        assert post.state == "done", (post.id, post.state, post.last_error_message)
        assert pipeline.sandbox.ids_for(post.text) == [post.external_id]
        assert post.attempts == attempts, (post.id, post.attempts)


def _secrets_kept(
    pipeline: Pipeline, credential_id: int, post_ids: list[int], grant: Grant
) -> None:
    """No token of the grant, nor the client secret, in the call log, logs or the API."""
    secrets = {grant.access_token, grant.refresh_token, CLIENT_SECRET}
    for call in _calls(pipeline, grant):
        secrets |= {s for s in (call.issued, call.rotated) if s}
    rows = [c for post_id in post_ids for c in pipeline.calls(post_id)]
    recorded = json.dumps(
        [[c.url, c.request_headers, c.request_body, c.response_body, c.error] for c in rows]
    )
    shown = CredentialOut.of(_row(pipeline, credential_id)).model_dump_json()
    logs = "".join(pipeline.log(name) for name in ("worker", "worker2", "control", "beat"))
    for secret in secrets:
        assert secret not in recorded and secret not in shown and secret not in logs


def test_two_workers_racing_on_an_expired_token_refresh_it_once(pipeline: Pipeline) -> None:
    # Given an expired token, and a token endpoint slow enough for every claim to overlap
    sandbox = pipeline.sandbox
    grant, account, credential = _connected(pipeline, expires_in=-60)
    _pause(pipeline, credential, True)  # until every post waits: no refresh before them
    posts = [pipeline.post(account, credential, f"race {i} {account}") for i in range(4)]
    sandbox.oauth.delay_seconds = 0.5
    try:
        # When four posts of it are due at once on two worker processes
        _pause(pipeline, credential, False)
        _published_once(pipeline, posts)
    finally:
        sandbox.oauth.delay_seconds = 0.0
    # Then the provider saw exactly one refresh; the others waited for it
    calls = _calls(pipeline, grant)
    assert [(c.refresh_token, c.status) for c in calls] == [(grant.refresh_token, 200)]
    reasons = [e.reason or "" for post in posts for e in _history(pipeline, post)]
    assert any("waiting for the token refresh in flight" in r for r in reasons), reasons
    # And every post used the new token, stored with the rotated refresh token
    row = _row(pipeline, credential)
    assert pipeline.box.decrypt(row.token_encrypted) == calls[0].issued
    assert pipeline.box.decrypt(row.refresh_token_encrypted or "") == calls[0].rotated
    assert row.refresh_owner is None and row.last_refreshed_at is not None


def _pause(pipeline: Pipeline, credential_id: int, paused: bool) -> None:
    with pipeline.sessions.begin() as session:
        control.set_credential_paused(session, credential_id, paused, utcnow(), by="test")


def test_a_401_on_an_expired_token_refreshes_then_publishes_without_an_attempt(
    pipeline: Pipeline,
) -> None:
    # Given a confidential client whose token expired early (publisher's expiry unknown)
    grant, account, credential = _connected(pipeline, expires_in=None, client_secret=CLIENT_SECRET)
    # When a post meets X's 401
    post = pipeline.post(account, credential, f"after a 401 {account}")
    _published_once(pipeline, [post], attempts=1)
    # Then one refresh (HTTP Basic) and a retry right away, on the same attempt
    calls = _calls(pipeline, grant)
    assert [(c.status, c.basic, c.client_id) for c in calls] == [(200, True, "app-1")]
    assert [(c.attempt, c.category) for c in pipeline.calls(post)] == [
        (1, "unauthorized"),
        (1, "success"),
    ]
    shown = CredentialOut.of(_row(pipeline, credential))
    assert shown.valid and shown.refreshable and shown.last_error is None
    assert shown.expires_at is not None and shown.expires_at > utcnow() + timedelta(hours=1)
    _secrets_kept(pipeline, credential, [post], grant)


def test_a_thread_meeting_a_401_refreshes_and_resumes_without_an_attempt(
    pipeline: Pipeline,
) -> None:
    # Given a token X refuses as expired (publisher's expiry unknown)
    grant, account, credential = _connected(pipeline, expires_in=None)
    # When a thread of two parts is published
    texts = [f"thread part {i} {account}" for i in (1, 2)]
    post_id = pipeline.post(account, credential, None, parts=[{"text": t} for t in texts])
    post = pipeline.wait_final([post_id], timeout=60)[post_id]
    # Then one refresh, and each part published once, on the first attempt
    assert (post.state, post.attempts) == ("done", 1), post.last_error_message
    assert [len(pipeline.sandbox.ids_for(t)) for t in texts] == [1, 1]
    assert [c.status for c in _calls(pipeline, grant)] == [200]


def test_the_sweep_refreshes_a_token_before_it_expires(pipeline: Pipeline) -> None:
    # Given a token expiring within the proactive margin, and no post at all
    grant, account, credential = _connected(
        pipeline, expires_in=120, client_secret=CLIENT_SECRET, expired=False
    )
    # When the sweeps run
    row = wait_for(lambda: (r := _row(pipeline, credential)).last_refreshed_at and r, 30)
    # Then it was refreshed once, the new tokens stored with their new expiry
    calls = _calls(pipeline, grant)
    assert [(c.refresh_token, c.status) for c in calls] == [(grant.refresh_token, 200)]
    assert pipeline.box.decrypt(row.token_encrypted) == calls[0].issued
    assert row.expires_at is not None and row.expires_at > utcnow() + timedelta(hours=1)
    # And a post then publishes with the new token, nothing refreshed again
    post = pipeline.post(account, credential, f"after the sweep {account}")
    _published_once(pipeline, [post])
    assert len(_calls(pipeline, grant)) == 1
    _secrets_kept(pipeline, credential, [post], grant)


def test_an_answer_without_a_refresh_token_keeps_ours(pipeline: Pipeline) -> None:
    # Given a token endpoint that does not rotate refresh tokens (RFC 6749 §6: optional)
    grant, _account, credential = _connected(pipeline, expires_in=120, expired=False)
    pipeline.sandbox.oauth.rotate = False
    try:
        # When the sweep refreshes it twice
        wait_for(lambda: _row(pipeline, credential).last_refreshed_at, 30)
        with pipeline.sessions.begin() as session:
            stored = session.get(Credential, credential)
            assert stored is not None
            stored.expires_at = utcnow()
        wait_for(lambda: len(_calls(pipeline, grant)) == 2, 30)
    finally:
        pipeline.sandbox.oauth.rotate = True
    # Then both refreshes sent the one refresh token, and it is still the stored one
    calls = _calls(pipeline, grant)
    assert [(c.refresh_token, c.status) for c in calls] == [(grant.refresh_token, 200)] * 2
    row = wait_for(lambda: (r := _row(pipeline, credential)).refresh_owner is None and r, 10)
    assert pipeline.box.decrypt(row.refresh_token_encrypted or "") == grant.refresh_token
    assert pipeline.box.decrypt(row.token_encrypted) == calls[1].issued


def test_a_refused_grant_invalidates_the_credential_and_asks_to_reauthorize(
    pipeline: Pipeline,
) -> None:
    # Given an expired token whose refresh token the endpoint never issued
    _grant, account, credential = _connected(
        pipeline, expires_in=-60, refresh_token="rt-never-issued"
    )
    # When a post of it is due
    post_id = pipeline.post(account, credential, f"refused grant {account}")
    post = pipeline.wait_final([post_id], timeout=60)[post_id]
    # Then the post is cancelled unauthorized, the account told to re-authorize
    assert (post.state, post.cancel_reason) == ("cancelled", "unauthorized")
    assert "reauthorize" in [n.kind for n in pipeline.notifications(post_id)]
    shown = CredentialOut.of(_row(pipeline, credential))
    assert not shown.valid and "invalid_grant" in (shown.last_error or "")
    assert pipeline.sandbox.create_count(text=post.text) == 0


@pytest.mark.parametrize("fault", ["503", "timeout"])
def test_a_failing_token_endpoint_is_unavailable_and_retried(
    pipeline: Pipeline, fault: str
) -> None:
    # Given a token X refuses as expired and a token endpoint failing twice
    grant, account, credential = _connected(pipeline, expires_in=None)
    pipeline.sandbox.oauth.fail(2, fault)
    # When a post of it is due
    post = pipeline.post(account, credential, f"endpoint {fault} {account}")
    # Then two attempts end unavailable (backoff), the third publishes once
    _published_once(pipeline, [post], attempts=3)
    calls = _calls(pipeline, grant)
    assert [c.status for c in calls] == [503, 503, 200]
    history = [e.reason or "" for e in _history(pipeline, post)]
    assert sum("token refresh failed" in reason for reason in history) == 2
    assert _row(pipeline, credential).last_error is None


def _history(pipeline: Pipeline, post_id: int) -> list[PostEvent]:
    with pipeline.sessions() as session:
        return list(service.history(session, post_id))


@pytest.fixture
def lone(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    """One worker whose calls may hang 4 s (the sandbox's slow answer takes 8)."""
    with RedisServer() as redis_server, Sandbox(slow_seconds=8.0, strict=True) as sandbox:
        running = Pipeline(
            tmp_path,
            database_url,
            redis_server.url,
            sandbox,
            PUBLISHER_HTTP_TIMEOUT="4",
            PUBLISHER_LEASE_SECONDS="10",
        )
        try:
            yield running
        finally:
            running.stop()


def test_a_rotated_refresh_token_survives_a_worker_kill(lone: Pipeline) -> None:
    # Given an expired token, and a post whose create hangs after the refresh
    sandbox = lone.sandbox
    grant, account, credential = _connected(lone, expires_in=-60)
    lone.start_worker("worker", concurrency=2)
    lone.start_beat()
    post = lone.post(account, credential, f"[[fault:slow]] killed {account}")
    text = lone.get(post).text
    # When the worker is killed while its create hangs (the refresh committed before it)
    wait_for(lambda: sandbox.ids_for(text), 30, lambda: lone.log("worker"))
    lone.kill("worker")
    first = _calls(lone, grant)
    assert [(c.refresh_token, c.status) for c in first] == [(grant.refresh_token, 200)]
    row = _row(lone, credential)
    assert lone.box.decrypt(row.refresh_token_encrypted or "") == first[0].rotated
    # Then a new worker finishes the post once (rescued, found by a lookup) ...
    lone.start_worker("worker", concurrency=2)
    _published_once(lone, [post])
    # ... and the next refresh sends the rotated token; the spent one never again
    with lone.sessions.begin() as session:
        stored = session.get(Credential, credential)
        assert stored is not None
        stored.expires_at = utcnow() - timedelta(seconds=1)
    second = lone.post(account, credential, f"after the kill {account}")
    _published_once(lone, [second])
    calls = _calls(lone, grant)
    assert [(c.refresh_token, c.status) for c in calls] == [
        (grant.refresh_token, 200),
        (first[0].rotated, 200),
    ]
