"""The sandbox's Threads (Meta) stand-in: containers, their status polls, publishing a
container at most once (strict and helpful alike), replies to existing posts only, the
user's posts, Graph's error format and the fault markers on the publish."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from publisher.sandbox import Sandbox

ROOT = "/v1.0"
TOKEN = {"Authorization": "Bearer user-token"}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(params=[False, True], ids=["helpful", "strict"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(strict=["threads"] if request.param else []) as running:
        yield running


def contain(http: requests.Session, sandbox: Sandbox, text: str, **extra: str) -> str:
    body = {"media_type": "TEXT", "text": text} | extra
    answer = http.post(f"{sandbox.url}{ROOT}/me/threads", json=body, headers=TOKEN, timeout=5)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def publish(http: requests.Session, sandbox: Sandbox, container: str) -> requests.Response:
    url = f"{sandbox.url}{ROOT}/me/threads_publish?creation_id={container}"
    return http.post(url, headers=TOKEN, timeout=5)


def status(http: requests.Session, sandbox: Sandbox, container: str) -> Any:
    url = f"{sandbox.url}{ROOT}/{container}?fields=status,error_message"
    answer = http.get(url, headers=TOKEN, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_container_publishes_once_and_says_so(http: requests.Session, sandbox: Sandbox) -> None:
    container = contain(http, sandbox, "hello")
    assert sandbox.creates == []  # a container is not a post
    assert status(http, sandbox, container) == {"id": container, "status": "FINISHED"}

    first = publish(http, sandbox, container)
    again = publish(http, sandbox, container)

    [created] = sandbox.creates
    assert first.json() == {"id": created.id}
    assert (created.kind, created.text) == ("threads", "hello")
    assert again.status_code == 400 and again.json()["error"]["code"] == 100
    assert status(http, sandbox, container)["status"] == "PUBLISHED"
    assert sandbox.creates_by_text() == {"hello": 1}


def test_a_container_is_in_progress_for_the_configured_polls(
    http: requests.Session, sandbox: Sandbox
) -> None:
    sandbox.state.containers.processing_polls = 2
    container = contain(http, sandbox, "video-ish")
    early = publish(http, sandbox, container)
    assert early.status_code == 400 and early.json()["error"]["code"] == 9007
    assert [status(http, sandbox, container)["status"] for _ in range(3)] == [
        "IN_PROGRESS",
        "FINISHED",
        "FINISHED",
    ]
    assert publish(http, sandbox, container).status_code == 200


def test_a_reply_must_name_a_post_of_the_user(http: requests.Session, sandbox: Sandbox) -> None:
    body = {"media_type": "TEXT", "text": "reply", "reply_to_id": "42"}
    refused = http.post(f"{sandbox.url}{ROOT}/me/threads", json=body, headers=TOKEN, timeout=5)
    assert refused.status_code == 400 and refused.json()["error"]["error_subcode"] == 33
    first = publish(http, sandbox, contain(http, sandbox, "first")).json()["id"]
    reply = contain(http, sandbox, "reply", reply_to_id=first)
    assert sandbox.state.containers.made_for("reply")[0].reply_to == first
    assert publish(http, sandbox, reply).status_code == 200


def test_the_users_posts_newest_first(http: requests.Session, sandbox: Sandbox) -> None:
    ids = [publish(http, sandbox, contain(http, sandbox, t)).json()["id"] for t in "abc"]
    answer = http.get(f"{sandbox.url}{ROOT}/me/threads?limit=2", headers=TOKEN, timeout=5).json()
    assert [post["id"] for post in answer["data"]] == ids[::-1][:2]
    assert [post["text"] for post in answer["data"]] == ["c", "b"]
    assert answer["paging"]["cursors"]["after"] == "2"


def test_an_invalid_token_answers_graph_code_190(http: requests.Session, sandbox: Sandbox) -> None:
    sandbox.invalid_tokens.add("user-token")
    body = {"media_type": "TEXT", "text": "x"}
    answer = http.post(f"{sandbox.url}{ROOT}/me/threads", json=body, headers=TOKEN, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 190


@pytest.mark.parametrize(("fault", "made"), [("503", 0), ("503_after", 1), ("graph_code:9", 0)])
def test_faults_act_on_the_publish(
    http: requests.Session, sandbox: Sandbox, fault: str, made: int
) -> None:
    text = f"[[fault:{fault}]] f"
    container = contain(http, sandbox, text)  # the container itself is never faulted
    answer = publish(http, sandbox, container)
    assert answer.status_code >= 400
    assert "error" in answer.json()
    assert sandbox.creates_by_text()[text] == made
    expected = "PUBLISHED" if made else "FINISHED"
    assert status(http, sandbox, container)["status"] == expected


def test_the_expiry_marker_expires_the_first_container_at_its_first_publish(
    http: requests.Session, sandbox: Sandbox
) -> None:
    text = "[[container:expires]] soon"
    first = contain(http, sandbox, text)
    assert publish(http, sandbox, first).status_code == 503
    assert status(http, sandbox, first)["status"] == "EXPIRED"
    assert publish(http, sandbox, contain(http, sandbox, text)).status_code == 200
    assert sandbox.creates_by_text() == {text: 1}


def test_an_image_container_keeps_its_url_and_a_broken_one_fails(
    http: requests.Session, sandbox: Sandbox
) -> None:
    url = "https://cdn.example/cat.jpg"
    fine = contain(http, sandbox, "pic", media_type="IMAGE", image_url=url, alt_text="a cat")
    [made] = sandbox.state.containers.made_for("pic")
    assert made.image is not None and (made.image.url, made.image.alt) == (url, "a cat")
    assert publish(http, sandbox, fine).status_code == 200
    broken = contain(
        http, sandbox, "bad", media_type="IMAGE", image_url="https://cdn.example/broken.jpg"
    )
    assert status(http, sandbox, broken) == {
        "id": broken,
        "status": "ERROR",
        "error_message": "FAILED_DOWNLOADING_IMAGE",
    }
    assert publish(http, sandbox, broken).status_code == 400
