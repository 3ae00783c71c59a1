"""The scoped kill switches over HTTP (in-process ASGI client), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control


@pytest.fixture
def client(api: TestClient) -> TestClient:
    return api


def _credential(client: TestClient) -> int:
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    created = client.post(
        f"/v1/accounts/{account}/credentials",
        json={"provider": "mastodon", "base_url": "https://social.example", "token": "tok"},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_a_credential_is_paused_and_resumed_with_who_and_when(client: TestClient) -> None:
    credential = _credential(client)
    paused = client.post(f"/v1/credentials/{credential}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused_by"] == "api" and paused.json()["paused_at"] is not None
    assert client.get(f"/v1/credentials/{credential}").json()["paused_at"] is not None
    resumed = client.post(f"/v1/credentials/{credential}/resume")
    assert (resumed.json()["paused_at"], resumed.json()["paused_by"]) == (None, None)


def test_a_provider_is_paused_and_resumed(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    assert client.post("/v1/providers/x/pause").json() == {"provider": "x", "paused": True}
    with sessions() as session:
        assert control.pauses(session).providers == frozenset({"x"})
    assert client.post("/v1/providers/x/resume").json() == {"provider": "x", "paused": False}
    with sessions() as session:
        assert control.pauses(session).providers == frozenset()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/credentials/424242/pause", 404),
        ("/v1/credentials/0/pause", 422),
        ("/v1/providers/myspace/pause", 422),
        ("/v1/providers/myspace/resume", 422),
    ],
)
def test_a_switch_for_nothing_is_a_clear_error(client: TestClient, path: str, status: int) -> None:
    answer = client.post(path)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json() and "message" in answer.json()
