"""Threads over the HTTP API: ``parts`` in, ``parts`` out, and each refusal named."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.models import Post, PostStep, utcnow
from publisher.core.service.parts import MAX_PARTS


@pytest.fixture
def client(api: TestClient) -> TestClient:
    return api


@pytest.fixture
def owner(client: TestClient) -> dict[str, int]:
    account = client.post("/v1/accounts", json={"name": "acme"}).json()["id"]
    credential = client.post(
        f"/v1/accounts/{account}/credentials",
        json={"provider": "x", "base_url": "https://api.x.example", "token": "s3cret-tok"},
    ).json()["id"]
    return {"account_id": account, "credential_id": credential}


def _parts(*texts: str) -> list[dict[str, Any]]:
    return [{"text": text} for text in texts]


def test_a_thread_is_created_and_read_with_its_parts(
    client: TestClient, owner: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    # Given a thread of three parts
    created = client.post("/v1/posts", json={**owner, "parts": _parts("one", "two", "three")})
    assert created.status_code == 201, created.text
    post = created.json()
    # Then its text is part 1's and every part is listed, none published yet
    assert post["text"] == "one"
    assert [(p["text"], p["external_id"]) for p in post["parts"]] == [
        ("one", None),
        ("two", None),
        ("three", None),
    ]
    # When parts 1 and 2 are confirmed at the provider (as the worker records them)
    with sessions.begin() as session:
        for index, remote in enumerate(["100", "101"]):
            session.add(
                PostStep(
                    post_id=post["id"],
                    key=f"p{index}",
                    external_id=remote,
                    external_url=f"https://x.example/{remote}",
                    attempt=1,
                    at=utcnow(),
                )
            )
    # Then the post, and the listing, show their ids
    shown = client.get(f"/v1/posts/{post['id']}").json()
    assert [p["external_id"] for p in shown["parts"]] == ["100", "101", None]
    assert shown["parts"][1]["external_url"] == "https://x.example/101"
    listed = client.get("/v1/posts").json()["items"]
    assert [p["external_id"] for p in listed[0]["parts"]] == ["100", "101", None]


def test_a_one_part_post_lists_itself_as_its_one_part(
    client: TestClient, owner: dict[str, int]
) -> None:
    post = client.post("/v1/posts", json={**owner, "text": "alone"}).json()
    assert post["parts"] == [
        {"text": "alone", "media": [], "external_id": None, "external_url": None}
    ]
    assert post["media"] == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": "a", "parts": _parts("b")}, "parts", "not both"),
        ({}, "text", "required"),
        ({"parts": []}, "parts", "at least one"),
        ({"parts": _parts(*["p"] * (MAX_PARTS + 1))}, "parts", f"at most {MAX_PARTS}"),
        ({"parts": _parts("fine", "x" * 281)}, "parts[1].text", "x allows 280"),
        ({"parts": _parts("fine", "   ")}, "parts[1].text", "must not be empty"),
    ],
)
def test_a_bad_thread_is_refused_naming_the_part_and_writes_nothing(
    client: TestClient,
    owner: dict[str, int],
    sessions: sessionmaker[Session],
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = client.post("/v1/posts", json={**owner, **body})
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["field"] == field and words in error["message"], error
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 0


def test_a_retried_create_returns_the_thread_and_a_changed_one_conflicts(
    client: TestClient, owner: dict[str, int]
) -> None:
    body = {**owner, "parts": _parts("first", "second"), "idempotency_key": "thread-key-1"}
    first = client.post("/v1/posts", json=body)
    again = client.post("/v1/posts", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    changed = client.post("/v1/posts", json={**body, "parts": _parts("first", "other")})
    assert changed.status_code == 409, changed.text


def test_a_thread_is_edited_through_its_parts(client: TestClient, owner: dict[str, int]) -> None:
    post = client.post("/v1/posts", json={**owner, "parts": _parts("a", "b")}).json()
    refused = client.patch(f"/v1/posts/{post['id']}", json={"text": "only the first?"})
    assert refused.status_code == 422 and refused.json()["field"] == "parts"
    edited = client.patch(f"/v1/posts/{post['id']}", json={"parts": _parts("a", "b", "c")})
    assert edited.status_code == 200, edited.text
    assert [p["text"] for p in edited.json()["parts"]] == ["a", "b", "c"]
    assert edited.json()["text"] == "a"
