"""The sandbox's Facebook Pages stand-in: Graph's answers, its error format, helpful and
strict modes, its Page-posts listing, and the graph_code fault markers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from publisher.sandbox import Sandbox

ROOT = "/v24.0"
TOKEN = {"Authorization": "Bearer page-token"}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def publish(http: requests.Session, sandbox: Sandbox, message: str) -> requests.Response:
    url = f"{sandbox.url}{ROOT}/me/feed"
    return http.post(url, json={"message": message}, headers=TOKEN, timeout=5)


def posts(http: requests.Session, sandbox: Sandbox, query: str = "") -> Any:
    answer = http.get(f"{sandbox.url}{ROOT}/me/posts?{query}", headers=TOKEN, timeout=5)
    assert answer.status_code == 200
    return answer.json()


def test_publish_answers_the_page_post_id(http: requests.Session, sandbox: Sandbox) -> None:
    answer = publish(http, sandbox, "Hello fans")

    assert answer.status_code == 200
    [created] = sandbox.creates
    assert answer.json() == {"id": f"1000_{created.id}"}
    assert (created.kind, created.text) == ("facebook", "Hello fans")


def test_helpful_mode_refuses_a_repeated_message_with_506(
    http: requests.Session, sandbox: Sandbox
) -> None:
    publish(http, sandbox, "once")
    again = publish(http, sandbox, "once")

    assert again.status_code == 400
    assert again.json()["error"]["code"] == 506
    assert sandbox.creates_by_text() == {"once": 1}


def test_strict_mode_creates_every_time(http: requests.Session) -> None:
    with Sandbox(strict=["facebook"]) as strict:
        first, again = publish(http, strict, "twice"), publish(http, strict, "twice")

        assert first.json() != again.json()
        assert strict.creates_by_text(kind="facebook") == {"twice": 2}


def test_invalid_token_answers_graph_code_190(http: requests.Session, sandbox: Sandbox) -> None:
    sandbox.invalid_tokens.add("page-token")

    answer = publish(http, sandbox, "x")

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (190, 463, "OAuthException")


@pytest.mark.parametrize(("code", "status"), [(4, 400), (10, 403), (368, 400), (2, 503)])
def test_graph_code_faults_answer_graphs_error(
    http: requests.Session, sandbox: Sandbox, code: int, status: int
) -> None:
    answer = publish(http, sandbox, f"[[fault:graph_code:{code},ok]]")

    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert "Retry-After" not in answer.headers  # Graph sends none
    assert sandbox.creates == []
    assert publish(http, sandbox, f"[[fault:graph_code:{code},ok]]").status_code == 200


def test_plain_status_faults_speak_graph(http: requests.Session, sandbox: Sandbox) -> None:
    answer = publish(http, sandbox, "[[fault:503_after]]")

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == 2
    assert len(sandbox.creates) == 1  # stored, then hidden


def test_posts_lists_newest_first_a_page_at_a_time(
    http: requests.Session, sandbox: Sandbox
) -> None:
    for n in range(3):
        publish(http, sandbox, f"post {n}")

    first = posts(http, sandbox, "limit=2")
    after = first["paging"]["cursors"]["after"]
    rest = posts(http, sandbox, f"limit=2&after={after}")

    assert [p["message"] for p in first["data"]] == ["post 2", "post 1"]
    assert [p["message"] for p in rest["data"]] == ["post 0"]
    assert "paging" not in rest


def test_posts_leave_out_those_before_since(http: requests.Session, sandbox: Sandbox) -> None:
    publish(http, sandbox, "old")
    later = int((datetime.now(UTC) + timedelta(minutes=1)).timestamp())

    assert posts(http, sandbox, f"since={later}")["data"] == []
    assert [p["message"] for p in posts(http, sandbox, "since=0")["data"]] == ["old"]
