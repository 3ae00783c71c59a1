"""The sandbox's Facebook Pages stand-in: Graph's answers, its error format, helpful and
strict modes, its Page-posts listing, and the graph_code fault markers."""

from __future__ import annotations

import json
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


# --- photos and usage headers --------------------------------------------------------


def upload(
    http: requests.Session,
    sandbox: Sandbox,
    content: bytes = b"\x89PNG photo",
    content_type: str = "image/png",
    published: str | None = "false",
    alt: str | None = "A cat",
) -> requests.Response:
    data = {"published": published, "alt_text_custom": alt}
    files = {"source": ("cat.png", content, content_type)}
    fields = {name: value for name, value in data.items() if value is not None}
    url = f"{sandbox.url}{ROOT}/me/photos"
    return http.post(url, data=fields, files=files, headers=TOKEN, timeout=5)


def publish_photos(
    http: requests.Session, sandbox: Sandbox, message: str, *ids: str
) -> requests.Response:
    body = {"message": message, "attached_media": [{"media_fbid": i} for i in ids]}
    return http.post(f"{sandbox.url}{ROOT}/me/feed", json=body, headers=TOKEN, timeout=5)


def test_an_unpublished_photo_upload_answers_its_id(
    http: requests.Session, sandbox: Sandbox
) -> None:
    answer = upload(http, sandbox)

    assert answer.status_code == 200
    [record] = sandbox.uploads
    assert answer.json() == {"id": record.id}
    assert (record.kind, record.size, record.description) == ("facebook", 10, "A cat")
    assert sandbox.creates == []  # unpublished: no post


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"content_type": "video/mp4"}, 324),  # not an image
        ({"content": b""}, 324),  # no file
        ({"content": b"x" * (4 * 1024 * 1024 + 1)}, 100),  # over 4 MB
        ({"published": None}, 100),  # the stand-in serves unpublished photos only
        ({"published": "true"}, 100),
    ],
)
def test_a_photo_graph_would_refuse_is_refused(
    http: requests.Session, sandbox: Sandbox, change: dict[str, Any], code: int
) -> None:
    answer = upload(http, sandbox, **change)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert sandbox.uploads == []


def test_a_post_attaches_its_photos_and_lists_them(
    http: requests.Session, sandbox: Sandbox
) -> None:
    ids = [upload(http, sandbox).json()["id"] for _ in range(2)]

    answer = publish_photos(http, sandbox, "two cats", *ids)

    assert answer.status_code == 200
    [created] = sandbox.creates
    assert [m.id for m in created.media] == ids
    [listed] = posts(http, sandbox)["data"]
    [album] = listed["attachments"]["data"]
    assert [s["target"]["id"] for s in album["subattachments"]["data"]] == ids


def test_a_photo_post_may_have_no_message(http: requests.Session, sandbox: Sandbox) -> None:
    photo = upload(http, sandbox).json()["id"]

    assert publish_photos(http, sandbox, "", photo).status_code == 200
    [listed] = posts(http, sandbox)["data"]
    assert "message" not in listed
    assert listed["attachments"]["data"] == [{"type": "photo", "target": {"id": photo}}]


@pytest.mark.parametrize("strict", [False, True])
def test_unknown_or_reused_photo_ids_are_refused(http: requests.Session, strict: bool) -> None:
    with Sandbox(strict=["facebook"] if strict else []) as running:
        photo = upload(http, running).json()["id"]
        assert publish_photos(http, running, "first", photo).status_code == 200

        again = publish_photos(http, running, "second", photo)
        unknown = publish_photos(http, running, "third", "999999")

        assert (again.status_code, again.json()["error"]["code"]) == (400, 100)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, 100)
        assert running.creates_by_text(kind="facebook") == {"first": 1}


def usage_of(answer: requests.Response) -> dict[str, Any]:
    [usage] = json.loads(answer.headers["X-Business-Use-Case-Usage"])["1000"]
    return dict(usage)


def test_answers_report_the_pages_usage(http: requests.Session, sandbox: Sandbox) -> None:
    low = publish(http, sandbox, "calm")
    high = publish(http, sandbox, "[[fault:graph_usage:97]] busy")

    assert (high.status_code, usage_of(low)["call_count"]) == (200, 1)
    assert (usage_of(high)["call_count"], usage_of(high)["estimated_time_to_regain_access"]) == (
        97,
        0,
    )
    assert sandbox.creates_by_text() == {"calm": 1, "[[fault:graph_usage:97]] busy": 1}


@pytest.mark.parametrize("code", [32, 613, 80001])
def test_a_throttled_page_is_told_when_calls_pass_again(
    http: requests.Session, sandbox: Sandbox, code: int
) -> None:
    answer = publish(http, sandbox, f"[[fault:graph_code:{code}]] throttled")

    assert answer.json()["error"]["code"] == code
    usage = usage_of(answer)
    assert (usage["call_count"], usage["estimated_time_to_regain_access"]) == (100, 2)
