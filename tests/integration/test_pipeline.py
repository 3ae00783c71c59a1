"""The pipeline end to end on real components: redis-server, celery worker and beat
processes, SQLite or PostgreSQL, and the sandbox HTTP server standing in for providers.

Each test makes its own account, so tests share one running pipeline per database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from publisher.providers.signing import verify
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """One pipeline per database, each with its own sandbox (their ledgers stay apart)."""
    workdir = tmp_path_factory.mktemp(f"pipeline-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'publisher.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"pipeline_{workdir.name.replace('-', '_')}")
    with (
        RedisServer() as redis_server,
        Sandbox(slow_seconds=2.0, strict=("mastodon", "x")) as sandbox,
    ):
        running = Pipeline(workdir, url, redis_server.url, sandbox)
        running.start_worker("worker", concurrency=2)  # two workers race for every post
        running.start_worker("worker2", concurrency=2)
        running.start_beat()
        yield running
        running.stop()


@pytest.mark.parametrize("provider", ["mastodon", "webhook", "x"])
def test_publishes_once_per_provider(pipeline: Pipeline, provider: str) -> None:
    # Given an approved post due now
    account = pipeline.account()
    credential = pipeline.credential(account, provider, token=f"tok-{provider}-canary")
    text = f"hello from {provider} {account}"
    post_id = pipeline.post(account, credential, text)
    # Then it is published exactly once, with the provider's id stored
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    assert post.external_id and post.attempts == 1 and post.published_at
    assert pipeline.sandbox.create_count(text=text) == 1
    # And the attempt is in the call log, with the token redacted everywhere
    calls = pipeline.calls(post_id)
    assert [(c.attempt, c.category) for c in calls] == [(1, "success")]
    logged = json.dumps([c.request_headers for c in calls]) + str(calls[0].request_body)
    assert "canary" not in logged
    assert calls[0].request_headers["Authorization"] == "[redacted]"
    with pipeline.sessions() as session:
        from publisher.core.models import Credential

        stored = session.get(Credential, credential)
        assert stored is not None and stored.last_verified_at is not None


def _one(pipeline: Pipeline, text: str, provider: str = "mastodon", **extra: object) -> int:
    account = pipeline.account()
    credential = pipeline.credential(account, provider)
    return pipeline.post(account, credential, f"{text} {account}", **extra)


@pytest.mark.parametrize(
    ("script", "provider", "attempts"),
    [
        ("503,429,ok", "mastodon", 3),
        ("reset,ok", "mastodon", 2),
        ("malformed", "mastodon", 2),
        ("slow", "mastodon", 2),
        ("slow", "x", 2),
        ("500,ok", "webhook", 2),
    ],
)
def test_transient_faults_heal_without_duplicates(
    pipeline: Pipeline, script: str, provider: str, attempts: int
) -> None:
    post_id = _one(pipeline, f"[[fault:{script}]] transient", provider)
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done", post.last_error_message
    assert post.attempts <= attempts
    # Created once (the stand-in ignores keys for Mastodon and X), with the provider's id
    assert pipeline.sandbox.ids_for(post.text) == [post.external_id]
    # Every attempt is in the call log (a reconciling attempt logs its lookup)
    assert {c.attempt for c in pipeline.calls(post_id)} == set(range(1, post.attempts + 1))


def test_last_failure_returns_to_draft_and_notifies(pipeline: Pipeline) -> None:
    post_id = _one(pipeline, "[[fault:503,503,503,503,503]] doomed", max_attempts=3)
    post = pipeline.wait_final([post_id])[post_id]
    assert (post.state, post.attempts, post.last_error_category) == ("draft", 3, "unavailable")
    assert [n.kind for n in pipeline.notifications(post_id)] == ["gave_up"]
    # A 503 may come after the post was stored: each retry looks first, and so does the
    # give-up (the lookup said "not there" each time, so calling again was safe).
    assert [c.category for c in pipeline.calls(post_id)] == [
        "unavailable_ambiguous",
        "reconcile_not_found",
        "unavailable_ambiguous",
        "reconcile_not_found",
        "unavailable_ambiguous",
        "reconcile_not_found",
    ]
    assert post.ambiguous


def test_unauthorized_cancels_marks_credential_and_holds_its_other_posts(
    pipeline: Pipeline,
) -> None:
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon", token="tok-revoked")
    pipeline.sandbox.invalid_tokens.add("tok-revoked")
    first = pipeline.post(account, credential, f"first {account}")
    post = pipeline.wait_final([first])[first]
    assert (post.state, post.cancel_reason) == ("cancelled", "unauthorized")
    assert [n.kind for n in pipeline.notifications(first)] == ["reauthorize"]
    # A second post of the same credential is held without calling the API
    second = pipeline.post(account, credential, f"second {account}")
    held = pipeline.wait_final([second])[second]
    assert (held.state, held.cancel_reason) == ("cancelled", "unauthorized")
    assert pipeline.calls(second) == []


@pytest.mark.parametrize("script", ["403", "422"])
def test_forbidden_cancels_and_notifies(pipeline: Pipeline, script: str) -> None:
    post_id = _one(pipeline, f"[[fault:{script}]] refused")
    post = pipeline.wait_final([post_id])[post_id]
    assert (post.state, post.cancel_reason) == ("cancelled", "forbidden")
    assert post.last_error_message and str(script) in post.last_error_message
    assert [n.kind for n in pipeline.notifications(post_id)] == ["forbidden"]


@pytest.mark.parametrize(
    ("billing", "paused", "reason"),
    [("past_due", False, "billing_inactive"), ("active", True, "paused")],
)
def test_validation_cancels_before_any_call(
    pipeline: Pipeline, billing: str, paused: bool, reason: str
) -> None:
    account = pipeline.account(billing_status=billing, paused=paused)
    credential = pipeline.credential(account)
    post_id = pipeline.post(account, credential, f"never {account}")
    post = pipeline.wait_final([post_id])[post_id]
    assert (post.state, post.cancel_reason) == ("cancelled", reason)
    assert pipeline.calls(post_id) == []


def test_unclassified_goes_to_sentry_then_retries(pipeline: Pipeline) -> None:
    post_id = _one(pipeline, "[[fault:x_code:999,ok]] odd", "x")
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "done"
    categories = [c.category for c in pipeline.calls(post_id)]
    assert categories == ["unclassified", "success"]

    def reported() -> list[dict[str, object]]:
        return [
            e
            for e in pipeline.sandbox.sentry_events
            if str(post_id) in json.dumps(e.get("contexts", {}).get("post", {}))
        ]

    events = wait_for(reported, 20)
    assert "tok-valid" not in json.dumps(events)


def test_duplicated_messages_never_call_twice(pipeline: Pipeline) -> None:
    from publisher.ops.celery_app import app

    account = pipeline.account()
    credential = pipeline.credential(account, "webhook")
    post_ids = [
        pipeline.post(account, credential, f"dup {account} {i}", approve=False) for i in range(5)
    ]
    with pipeline.sessions.begin() as session:
        from publisher.core import service
        from publisher.core.models import utcnow

        for post_id in post_ids:
            service.approve(session, post_id, utcnow())
    with app.connection_for_write(pipeline.settings.broker_url) as connection:
        for _ in range(4):
            for post_id in post_ids:
                app.send_task("publisher.publish", (post_id,), connection=connection)
    posts = pipeline.wait_final(post_ids)
    assert {p.state for p in posts.values()} == {"done"}
    for post in posts.values():
        assert pipeline.sandbox.create_count(text=post.text) == 1
        assert len(pipeline.calls(post.id)) == 1
    assert [c for c in pipeline.sandbox.calls if c.path == "/hooks/main" and c.status == 409] == []


def test_kill_switch_holds_everything_until_resume(pipeline: Pipeline) -> None:
    from publisher.core import control
    from publisher.core.models import utcnow

    with pipeline.sessions.begin() as session:
        control.set_paused(session, True, utcnow())
    try:
        post_id = _one(pipeline, "held by the kill switch")
        wait_for(lambda: pipeline.log("beat").count("publisher.sweep") >= 3, 10)
        import time

        time.sleep(2.5)  # two more sweeps
        post = pipeline.get(post_id)
        assert (post.state, post.attempts) == ("approved", 0)
        assert pipeline.calls(post_id) == []
    finally:
        with pipeline.sessions.begin() as session:
            control.resume(session, utcnow())
    assert pipeline.wait_final([post_id])[post_id].state == "done"


def test_recurring_post_schedules_its_next_occurrence(pipeline: Pipeline) -> None:
    from sqlalchemy import select

    from publisher.core.models import Post

    post_id = _one(pipeline, "weekly news", recurrence_rule="0 9 * * 1", timezone="Europe/Berlin")
    assert pipeline.wait_final([post_id])[post_id].state == "done"
    with pipeline.sessions() as session:
        following = session.scalars(
            select(Post).where(Post.series_id == post_id, Post.id != post_id)
        ).all()
    assert len(following) == 1
    nxt = following[0]
    assert nxt.state == "approved" and nxt.scheduled_at is not None
    assert nxt.occurrence == 2
    assert nxt.scheduled_at.weekday() == 0
    assert nxt.recurrence == "0 9 * * 1"


def test_notifications_are_delivered_signed(pipeline: Pipeline) -> None:
    post_id = _one(pipeline, "[[fault:403]] to be notified")
    pipeline.wait_final([post_id])

    def delivered() -> list[object]:
        return [n for n in pipeline.sandbox.notifications if n.body.get("post_id") == post_id]

    found = wait_for(delivered, 20)
    assert len(found) == 1
    note = found[0]
    raw = json.dumps(note.body, separators=(",", ":"), sort_keys=True).encode()
    assert verify(raw, "notify-secret", note.headers["X-Publisher-Signature"])
    assert pipeline.notifications(post_id)[0].delivered_at is not None


def test_metrics_aggregate_worker_processes(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from publisher.engine.telemetry import metrics

    post_id = _one(pipeline, "counted")
    assert pipeline.wait_final([post_id])[post_id].state == "done"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", pipeline.env["PROMETHEUS_MULTIPROC_DIR"])
    body, content_type = metrics.render(pipeline.sessions)
    text = body.decode()
    assert content_type.startswith("text/plain")
    attempts = [
        line
        for line in text.splitlines()
        if line.startswith('publisher_attempts_total{provider="mastodon"}')
    ]
    assert attempts and float(attempts[0].split()[-1]) >= 1
    assert 'publisher_call_outcomes_total{category="success",provider="mastodon"}' in text
    assert "publisher_lateness_seconds_bucket" in text
    assert 'publisher_posts{state="running"}' in text
    assert "publisher_last_sweep_timestamp_seconds" in text


def test_sweep_checks_in_with_sentry_crons(pipeline: Pipeline) -> None:
    def check_ins() -> list[dict[str, object]]:
        return [
            c
            for c in pipeline.sandbox.sentry_check_ins
            if c.get("monitor_slug") and c.get("status") == "ok"
        ]

    found = wait_for(check_ins, 30, lambda: str(pipeline.sandbox.sentry_check_ins))
    assert found[0]["monitor_slug"] == "publisher-sweep"


def test_sentry_events_carry_no_secrets(pipeline: Pipeline) -> None:
    account = pipeline.account()
    credential = pipeline.credential(account, "x", token="tok-canary-sentry")
    post_id = pipeline.post(account, credential, f"[[fault:x_code:999,ok]] secret {account}")
    assert pipeline.wait_final([post_id])[post_id].state == "done"

    def reported() -> list[dict[str, object]]:
        return [
            e for e in pipeline.sandbox.sentry_events if f'"post_id": {post_id}' in json.dumps(e)
        ]

    events = wait_for(reported, 20)
    dumped = json.dumps(events)
    assert "tok-canary-sentry" not in dumped
    assert "Bearer" not in dumped


def test_notifications_are_retried_until_the_app_accepts_them(pipeline: Pipeline) -> None:
    pipeline.sandbox.notify_status = 503
    try:
        post_id = _one(pipeline, "[[fault:403]] notify later")
        pipeline.wait_final([post_id])
        wait_for(lambda: pipeline.notifications(post_id)[0].delivery_attempts >= 1, 20)
        assert pipeline.notifications(post_id)[0].delivered_at is None
    finally:
        pipeline.sandbox.notify_status = 200

    def delivered() -> bool:
        return pipeline.notifications(post_id)[0].delivered_at is not None

    wait_for(delivered, 30)
    accepted = [
        n
        for n in pipeline.sandbox.notifications
        if n.body.get("post_id") == post_id and n.headers.get("Idempotency-Key")
    ]
    assert len({n.headers["Idempotency-Key"] for n in accepted}) == 1


@pytest.mark.parametrize("provider", ["mastodon", "x"])
def test_ambiguous_last_attempt_is_looked_up_before_giving_up(
    pipeline: Pipeline, provider: str
) -> None:
    post_id = _one(pipeline, "[[fault:slow]] last chance", provider, max_attempts=1)
    post = pipeline.wait_final([post_id])[post_id]
    assert (post.state, post.attempts) == ("done", 1)
    assert post.external_id
    assert pipeline.sandbox.create_count(text=post.text) == 1
    assert pipeline.notifications(post_id) == []


def test_unknown_last_attempt_without_lookup_says_so(pipeline: Pipeline) -> None:
    post_id = _one(pipeline, "[[fault:slow]] last chance", "webhook", max_attempts=1)
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "draft"
    assert post.last_error_message and "outcome is unknown" in post.last_error_message
    assert [n.kind for n in pipeline.notifications(post_id)] == ["gave_up"]
