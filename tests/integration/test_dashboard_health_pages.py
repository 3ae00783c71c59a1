"""The overview and the charts over HTTP (no browser): what the overview shows when the
watchdog is unhealthy and Redis does not answer (never a 500), the charts' window refused
with 422 naming the parameter, and the charts' JSON equal to the rows behind it, on
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.core import control
from publisher.core.dashboard.health import BrokerQueue
from publisher.core.settings import Settings
from publisher.web.probes import Probes
from tests.support.browser import FULL, READONLY
from tests.support.dashboard_rows import T0, call, credential, event, post

pytestmark = pytest.mark.integration
NOW = T0 + timedelta(minutes=30, seconds=5)  # the app's clock: the charts' window ends here


@dataclass(frozen=True)
class Verdict:
    healthy: bool = False
    schedule_entry: bool | None = False
    problems: list[str] = field(default_factory=lambda: ["the sweep's entry is missing"])


def _client(settings: Settings, sessions: sessionmaker[Session], probes: Probes) -> TestClient:
    settings = dataclasses.replace(settings, readonly_api_keys=(READONLY,))
    app = create_app(settings, sessions=sessions, clock=lambda: NOW, probes=probes)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def dashboard(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    dead = BrokerQueue(redis.Redis(port=1, socket_connect_timeout=1), "publisher")
    probes = Probes(watchdog=Verdict, broker=dead, beat_limit=30.0)
    with _client(settings, sessions, probes) as client:
        yield client


def _log_in(client: TestClient, key: str = READONLY) -> None:
    form = client.get("/dashboard/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token
    answer = client.post(
        "/dashboard/login",
        data={"key": key, "login_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_the_overview_says_what_is_wrong_and_what_is_unknown(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        control.set_provider_paused(session, "x", True, NOW, by="bob")
    _log_in(dashboard)
    answer = dashboard.get("/dashboard/fragments/health", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    text = answer.text
    assert 'id="queue-depth">unknown (Redis did not answer)<' in text
    assert 'id="watchdog" data-verdict="bad"' in text and "the sweep&#39;s entry is missing" in text
    assert 'id="beat" data-verdict="bad"' in text and "beat will not sweep" in text
    assert "<td>provider</td><td>x</td><td>bob</td>" in text
    assert 'href="/dashboard/posts?state=draft" data-state="draft">0<' in text
    assert FULL not in text and READONLY not in text


def test_without_probes_the_overview_shows_unknowns(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with _client(settings, sessions, Probes()) as client:
        _log_in(client)
        text = client.get("/dashboard").text
    assert 'id="watchdog" data-verdict="unknown"' in text
    assert 'id="queue-depth">unknown' in text


@pytest.mark.parametrize("name", ["2h", "forever", "1h;drop"])
def test_a_window_not_offered_is_a_422_naming_it(dashboard: TestClient, name: str) -> None:
    _log_in(dashboard)
    data = dashboard.get("/dashboard/charts/data", params={"window": name})
    assert data.status_code == 422
    assert data.json()["field"] == "window" and "1h, 6h, 24h, 3d, 7d" in data.json()["message"]
    shown = dashboard.get("/dashboard/charts", params={"window": name})
    assert shown.status_code == 422 and "window must be one of" in shown.text
    assert "data-src" not in shown.text  # the script fetches nothing for it


def test_the_charts_need_a_session(dashboard: TestClient) -> None:
    for path in ("/dashboard/charts", "/dashboard/charts/data?window=1h"):
        answer = dashboard.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")


def test_the_charts_json_counts_the_rows_of_its_window(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given calls and events in the last hour, and one two days ago
    with sessions.begin() as session:
        mastodon = credential(session)
        p = post(
            session,
            mastodon,
            scheduled_at=NOW - timedelta(minutes=10, seconds=4),
            published_at=NOW - timedelta(minutes=10),
        )
        for minutes, category in [(1, "success"), (1, "unavailable"), (20, "forbidden")]:
            call(session, p, NOW - timedelta(minutes=minutes), category=category, duration_ms=40)
        call(session, p, NOW - timedelta(days=2), category="success", provider="x")
        event(session, p, NOW - timedelta(minutes=5), "defer")
    _log_in(dashboard)
    # When the last hour's data is read
    body = dashboard.get("/dashboard/charts/data").json()
    charts = {c["key"]: {s["label"]: s["values"] for s in c["series"]} for c in body["charts"]}
    # Then each series sums to its rows, in the right bucket
    assert body["window"] == "1h" and len(body["x"]) == 60
    outcomes = charts["outcomes"]
    assert {k: sum(v) for k, v in outcomes.items()} == {
        "success": 1,
        "unavailable": 1,
        "unauthorized": 0,
        "forbidden": 1,
        "unclassified": 0,
    }
    assert outcomes["success"][-2] == 1  # a minute before now: the bucket before the last
    assert {k: sum(v) for k, v in charts["providers"].items()} == {"mastodon": 3}
    assert [v for v in charts["lateness"]["p50"] if v is not None] == [pytest.approx(4.0)]
    assert [v for v in charts["durations"]["mastodon p95"] if v is not None] == [40.0, 40.0]
    assert {k: sum(v) for k, v in charts["retries"].items()} == {"retries": 1, "give-ups": 0}
    # And the 3-day window reaches the call two days ago
    wide = dashboard.get("/dashboard/charts/data?window=3d").json()
    providers = {s["label"]: sum(s["values"]) for s in wide["charts"][1]["series"]}
    assert providers == {"mastodon": 3, "x": 1} and len(wide["x"]) == 72
