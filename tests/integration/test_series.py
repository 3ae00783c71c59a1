"""Recurring series on a real database (SQLite and PostgreSQL): every ended occurrence
leads to the next (or stops the series, by rule), end conditions, pause and resume."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.core import service
from publisher.core.models import Credential, Notification, Post, utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.engine import act, lock
from publisher.engine.plan import Action, Plan
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import PostgresServer, RedisServer

T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)  # a Monday
AUTH = {"Authorization": "Bearer test-key"}


def _series(
    sessions: sessionmaker[Session],
    settings: Settings,
    rule: str = "0 9 * * *",
    text: str | None = "daily",
    **extra: Any,
) -> int:
    with sessions.begin() as session:
        account = service.create_account(session, "series")
        credential = service.add_credential(
            session, token_box(settings), account.id, "mastodon", "https://m.example", "tok"
        )
        post = service.create_post(
            session,
            account.id,
            credential.id,
            text,
            recurrence_rule=rule,
            timezone="Asia/Kathmandu",
            scheduled_at=T0,
            **extra,
        )
        service.approve(session, post.id, T0 - timedelta(hours=1))
        return post.id


def _end(sessions: sessionmaker[Session], post_id: int, plan: Plan, verified: bool) -> None:
    """Claim the post and end its attempt with ``plan``, as a worker would."""
    with sessions.begin() as session:
        if verified:  # another post proved the token a minute ago
            session.execute(update(Credential).values(last_verified_at=T0 - timedelta(minutes=1)))
    with sessions.kw["bind"].begin() as connection:  # a Core connection, as in the worker
        job = lock.claim(connection, post_id, "w", T0, timedelta(minutes=2), 5)
        assert job is not None
        assert act.apply(connection, job, plan, T0)


def _occurrences(sessions: sessionmaker[Session]) -> list[Post]:
    with sessions() as session:
        return list(session.scalars(select(Post).order_by(Post.id)))


SUCCESS = Plan(Action.SUCCEED)


@pytest.mark.parametrize("verified", [True, False], ids=["verified-recently", "unverified"])
def test_every_published_occurrence_schedules_the_next(
    sessions: sessionmaker[Session], settings: Settings, verified: bool
) -> None:
    first = _series(sessions, settings)
    _end(sessions, first, SUCCESS, verified)
    posts = _occurrences(sessions)
    assert [(p.state, p.occurrence, p.series_id) for p in posts] == [
        ("done", 1, first),
        ("approved", 2, first),
    ]
    # 09:00 in Kathmandu (UTC+05:45) the next day is 03:15 UTC
    assert posts[1].scheduled_at == datetime(2030, 1, 8, 3, 15, tzinfo=UTC)


def test_a_recurring_thread_repeats_every_part(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    parts = [{"text": "daily 1/2"}, {"text": "daily 2/2"}]
    first = _series(sessions, settings, text=None, parts=parts)
    _end(sessions, first, SUCCESS, verified=True)
    posts = _occurrences(sessions)
    assert [p.text for p in posts] == ["daily 1/2", "daily 1/2"]
    assert posts[1].parts == posts[0].parts == [{**p, "media": []} for p in parts]


@pytest.mark.parametrize(
    ("plan", "continues"),
    [
        (Plan(Action.GIVE_UP, reason="gave up", notify="gave_up"), True),
        (Plan(Action.CANCEL, reason="forbidden", notify="forbidden"), True),
        (Plan(Action.CANCEL, reason="unauthorized", notify="reauthorize"), False),
        (Plan(Action.CANCEL, reason="billing_inactive", notify="cancelled"), False),
        (Plan(Action.CANCEL, reason="paused", notify="cancelled"), False),
        (Plan(Action.DEFER, reason="unavailable", next_run_at=T0), False),  # not ended yet
    ],
)
def test_a_series_goes_on_after_a_bad_occurrence_and_stops_when_the_account_cannot(
    sessions: sessionmaker[Session], settings: Settings, plan: Plan, continues: bool
) -> None:
    first = _series(sessions, settings)
    _end(sessions, first, plan, verified=False)
    assert len(_occurrences(sessions)) == (2 if continues else 1)
    if plan.notify and not continues:
        with sessions() as session:
            [message] = session.scalars(select(Notification.message)).all()
        assert f"POST /v1/series/{first}/resume" in message


def test_a_series_ends_at_its_count_and_at_its_until(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    counted = _series(sessions, settings, recurrence_count=2)
    _end(sessions, counted, SUCCESS, verified=False)
    second = _occurrences(sessions)[-1]
    with sessions.begin() as session:
        session.execute(update(Post).where(Post.id == second.id).values(next_run_at=T0))
    _end(sessions, second.id, SUCCESS, verified=False)
    assert [p.occurrence for p in _occurrences(sessions)] == [1, 2]  # no third

    until = _series(sessions, settings, recurrence_until=T0 + timedelta(hours=12))
    _end(sessions, until, SUCCESS, verified=False)
    assert [p.series_id for p in _occurrences(sessions)].count(until) == 1  # none after


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(settings, sessions=sessions, clock=lambda: T0)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


def test_series_over_http_lists_pauses_and_resumes(
    client: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    first = _series(sessions, settings, recurrence_count=4)
    shown = client.get(f"/v1/series/{first}").json()
    assert shown["state"] == "active"
    # The times ahead, in UTC, stop at the series' count (occurrences 1..4)
    assert shown["upcoming"][:2] == ["2030-01-07T08:00:00Z", "2030-01-08T03:15:00Z"]
    assert len(shown["upcoming"]) == 4

    paused = client.post(f"/v1/series/{first}/pause")
    assert (paused.status_code, paused.json()["state"]) == (200, "paused")
    assert client.post(f"/v1/series/{first}/pause").status_code == 409

    resumed = client.post(f"/v1/series/{first}/resume")
    assert (resumed.status_code, resumed.json()["state"]) == (200, "active")
    assert client.post(f"/v1/series/{first}/resume").status_code == 409
    assert client.get("/v1/series/999999").status_code == 404


def test_a_stopped_series_resumes_with_its_next_occurrence(
    client: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    first = _series(sessions, settings)
    _end(sessions, first, Plan(Action.CANCEL, reason="paused", notify="cancelled"), False)
    assert client.get(f"/v1/series/{first}").json()["state"] == "stopped"
    resumed = client.post(f"/v1/series/{first}/resume")
    assert resumed.status_code == 200, resumed.text
    assert [o["occurrence"] for o in resumed.json()["occurrences"]] == [2, 1]


def test_an_end_without_a_rule_is_refused(client: TestClient) -> None:
    account = client.post("/v1/accounts", json={"name": "a"}).json()["id"]
    credential = client.post(
        f"/v1/accounts/{account}/credentials",
        json={"provider": "mastodon", "base_url": "https://m.example", "token": "t"},
    ).json()["id"]
    body = {"account_id": account, "credential_id": credential, "text": "x"}
    refused = client.post("/v1/posts", json={**body, "recurrence_count": 3})
    assert (refused.status_code, refused.json()["field"]) == (422, "recurrence")


KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+05:45: a wall clock no UTC minute matches


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_two_minutes_of_a_minutely_series_on_a_busy_credential(
    tmp_path: Path, postgres_binaries: Path
) -> None:
    """Both databases side by side (one wall-clock wait): each occurrence published once,
    in its own minute of Kathmandu's wall clock, on a credential that publishes other
    posts too (so it was verified within the hour: the old series-stopping bug); the
    occurrence the engine created leads to the next one too (approved for the minute
    after: waiting for it to go out would cost another wall-clock minute)."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(Sandbox(strict=("mastodon", "x")))
        postgres = stack.enter_context(PostgresServer(bin_dir=postgres_binaries))
        urls = {"sqlite": f"sqlite:///{tmp_path / 'publisher.db'}", "postgres": postgres.url}
        pipelines = {}
        for name, url in urls.items():
            redis_server = stack.enter_context(RedisServer())
            workdir = tmp_path / name
            workdir.mkdir()
            pipeline = Pipeline(workdir, url, redis_server.url, sandbox)
            stack.callback(pipeline.stop)
            pipeline.start_worker(concurrency=2)
            pipeline.start_beat()
            pipelines[name] = pipeline
        # Given a credential per database that has just published another post
        series_ids = {}
        for name, pipeline in pipelines.items():
            account = pipeline.account()
            credential = pipeline.credential(account, "mastodon", token=f"tok-{name}")
            pipeline.wait_final([pipeline.post(account, credential, f"other post {name}")])
            series_ids[name] = (account, credential)
        # When a minutely series starts at the next full minute
        start = _next_minute()
        for name, pipeline in pipelines.items():
            account, credential = series_ids[name]
            with pipeline.sessions.begin() as session:
                first = service.create_post(
                    session,
                    account,
                    credential,
                    f"every minute {name}",
                    recurrence_rule="* * * * *",
                    timezone="Asia/Kathmandu",
                    scheduled_at=start,
                )
                service.approve(session, first.id, utcnow())
                series_ids[name] = first.id
        # Then two consecutive occurrences are published, each once, in its minute, and
        # the third waits approved for the minute after
        for name, pipeline in pipelines.items():
            posts = wait_for(lambda p=pipeline, n=name: _published(p, series_ids[n]), 180)
            third = _occurrence(pipeline, series_ids[name], 3)
            assert third is not None and third.state == "approved", name
            assert third.scheduled_at == start + timedelta(minutes=2), name
            creates = {c.id: c.at for c in sandbox.creates if c.text == f"every minute {name}"}
            assert sorted(creates) == sorted(p.external_id for p in posts), name
            for offset, post in enumerate(posts):
                local = post.scheduled_at.astimezone(KATHMANDU)
                expected = start.astimezone(KATHMANDU) + timedelta(minutes=offset)
                assert (local.hour, local.minute, local.second) == (
                    expected.hour,
                    expected.minute,
                    0,
                ), name
                created = creates[post.external_id].astimezone(KATHMANDU)
                assert (created.hour, created.minute) == (local.hour, local.minute), name


def _next_minute() -> datetime:
    now = utcnow()
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return start if (start - now).total_seconds() > 15 else start + timedelta(minutes=1)


def _published(pipeline: Pipeline, series_id: int) -> list[Post] | None:
    with pipeline.sessions() as session:
        posts = session.scalars(
            select(Post)
            .where(Post.series_id == series_id, Post.state == "done")
            .order_by(Post.occurrence)
        ).all()
    return list(posts[:2]) if len(posts) >= 2 else None


def _occurrence(pipeline: Pipeline, series_id: int, occurrence: int) -> Post | None:
    with pipeline.sessions() as session:
        return session.scalars(
            select(Post).where(Post.series_id == series_id, Post.occurrence == occurrence)
        ).one_or_none()
