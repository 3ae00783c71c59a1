"""The HTTP API end to end (in-process ASGI client) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.models import Credential, Post, PostEvent, utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.errors import InvalidInput


@pytest.fixture
def client(api: TestClient) -> TestClient:
    return api


def _account(client: TestClient, **extra: Any) -> int:
    response = client.post("/v1/accounts", json={"name": "acme", **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _credential(client: TestClient, account_id: int, provider: str = "mastodon") -> int:
    response = client.post(
        f"/v1/accounts/{account_id}/credentials",
        json={"provider": provider, "base_url": "https://social.example", "token": "s3cret-tok"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _post(client: TestClient, **extra: Any) -> dict[str, Any]:
    account_id = _account(client)
    credential_id = _credential(client, account_id)
    body = {"account_id": account_id, "credential_id": credential_id, "text": "hello", **extra}
    response = client.post("/v1/posts", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_post_lifecycle_over_http(client: TestClient) -> None:
    # Given a draft
    post = _post(client)
    assert post["state"] == "draft"
    # When it is approved for a given time, then cancelled
    approved = client.post(
        f"/v1/posts/{post['id']}/approve", json={"scheduled_at": "2030-01-01T09:00:00+01:00"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert approved.json()["scheduled_at"].startswith("2030-01-01T08:00:00")
    cancelled = client.post(f"/v1/posts/{post['id']}/cancel")
    # Then its history has both moves, by the user
    assert cancelled.json()["state"] == "cancelled"
    shown = client.get(f"/v1/posts/{post['id']}").json()
    assert [(e["from_state"], e["to_state"], e["actor"]) for e in shown["history"]] == [
        ("draft", "approved", "user"),
        ("approved", "cancelled", "user"),
    ]
    assert shown["cancel_reason"] == "user"
    assert shown["last_error"] is None
    for key in (
        "id",
        "state",
        "attempts",
        "max_attempts",
        "scheduled_at",
        "external_id",
        "external_url",
        "last_error",
        "cancel_reason",
        "history",
    ):
        assert key in shown


def test_approve_defaults_to_now_and_reopen(client: TestClient) -> None:
    post = _post(client)
    approved = client.post(f"/v1/posts/{post['id']}/approve").json()
    assert approved["scheduled_at"] is not None
    assert approved["next_run_at"] == approved["scheduled_at"]
    assert client.post(f"/v1/posts/{post['id']}/unapprove").json()["state"] == "draft"
    assert client.post(f"/v1/posts/{post['id']}/cancel").json()["state"] == "cancelled"
    assert client.post(f"/v1/posts/{post['id']}/reopen").json()["state"] == "draft"


def test_illegal_transition_is_409_with_state(client: TestClient) -> None:
    post = _post(client)
    response = client.post(f"/v1/posts/{post['id']}/reopen")
    assert response.status_code == 409
    assert response.json()["state"] == "draft"
    assert response.json()["error"] == "conflict"


def test_only_drafts_can_be_edited(client: TestClient) -> None:
    post = _post(client)
    edited = client.patch(f"/v1/posts/{post['id']}", json={"text": "changed"})
    assert edited.status_code == 200 and edited.json()["text"] == "changed"
    client.post(f"/v1/posts/{post['id']}/approve")
    refused = client.patch(f"/v1/posts/{post['id']}", json={"text": "again"})
    assert refused.status_code == 409
    assert refused.json()["state"] == "approved"


def test_token_is_encrypted_and_never_returned(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    account_id = _account(client)
    response = client.post(
        f"/v1/accounts/{account_id}/credentials",
        json={"provider": "x", "base_url": "https://api.x.com", "token": "canary-token-123"},
    )
    assert "canary-token-123" not in response.text
    credential_id = response.json()["id"]
    with sessions() as session:
        stored = session.get(Credential, credential_id)
        assert stored is not None
        assert "canary-token-123" not in stored.token_encrypted
    replaced = client.put(f"/v1/credentials/{credential_id}/token", json={"token": "new-tok-456"})
    assert replaced.status_code == 200
    assert "new-tok-456" not in replaced.text
    assert replaced.json()["invalid_since"] is None


def test_account_patch(client: TestClient) -> None:
    account_id = _account(client)
    patched = client.patch(
        f"/v1/accounts/{account_id}", json={"billing_status": "past_due", "paused": True}
    )
    assert patched.json() == patched.json() | {"billing_status": "past_due", "paused": True}


def test_list_posts_paginates_and_filters(client: TestClient) -> None:
    first = _post(client)
    account_id, credential_id = first["account_id"], first["credential_id"]
    for index in range(4):
        client.post(
            "/v1/posts",
            json={
                "account_id": account_id,
                "credential_id": credential_id,
                "text": f"post {index}",
            },
        )
    client.post(f"/v1/posts/{first['id']}/approve")
    page = client.get("/v1/posts", params={"account_id": account_id, "limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_after_id"] == page["items"][-1]["id"]
    rest = client.get(
        "/v1/posts",
        params={"account_id": account_id, "limit": 10, "after_id": page["next_after_id"]},
    ).json()
    assert len(rest["items"]) == 3 and rest["next_after_id"] is None
    approved = client.get("/v1/posts", params={"state": "approved"}).json()["items"]
    assert [p["id"] for p in approved] == [first["id"]]


def test_calls_and_notifications_lists(client: TestClient) -> None:
    post = _post(client)
    assert client.get(f"/v1/posts/{post['id']}/calls").json() == []
    assert client.get("/v1/notifications", params={"account_id": post["account_id"]}).json() == {
        "items": [],
        "next_after_id": None,
    }


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert "/v1/posts/{post_id}/approve" in spec["paths"]


def test_pause_and_resume(client: TestClient) -> None:
    assert client.post("/v1/pause").json() == {"paused": True}
    assert client.post("/v1/resume").json() == {"paused": False}


def _count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


BAD_POSTS = [
    ({"text": "x" * 501}, 422, "text"),
    ({"text": "   "}, 422, "text"),
    ({"scheduled_at": "2030-01-01T09:00:00"}, 422, "scheduled_at"),
    ({"scheduled_at": "tomorrow"}, 422, "scheduled_at"),
    ({"text": 5}, 422, "text"),
    ({"max_attempts": 0}, 422, "max_attempts"),
    ({"account_id": 999999}, 404, "account_id"),
    ({"credential_id": 999999}, 404, "credential_id"),
    ({"surprise": 1}, 422, "surprise"),
    ({"recurrence": "not a cron"}, 422, "recurrence"),
]


@pytest.mark.parametrize(("change", "status", "field"), BAD_POSTS)
def test_bad_post_is_refused_without_writing(
    client: TestClient,
    sessions: sessionmaker[Session],
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    account_id = _account(client)
    credential_id = _credential(client, account_id)
    body = {"account_id": account_id, "credential_id": credential_id, "text": "ok", **change}
    response = client.post("/v1/posts", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert _count(sessions, Post) == 0


# A post's text is measured as its credential's network measures it (providers/text).


def _x_post(client: TestClient, text: str) -> Any:
    account_id = _account(client)
    credential_id = _credential(client, account_id, provider="x")
    return client.post(
        "/v1/posts", json={"account_id": account_id, "credential_id": credential_id, "text": text}
    )


def test_text_too_long_for_x_is_422_naming_its_length_and_the_limit(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given 140 CJK characters (2 each), a space and a link (23): 304 as X counts it,
    # though only 197 code points
    text = "日本" * 70 + " https://example.com/" + "a" * 36
    response = _x_post(client, text)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "text"
    assert response.json()["message"] == (
        "is 304 as X counts it (URLs 23, CJK and emoji 2); x allows 280"
    )
    assert _count(sessions, Post) == 0


def test_text_over_280_code_points_within_x_rules_is_accepted(client: TestClient) -> None:
    # Given 331 code points, 34 as X counts them (the long link counts 23)
    text = "read this: https://example.com/" + "a" * 300
    response = _x_post(client, text)
    assert response.status_code == 201, response.text
    assert response.json()["text"] == text


def test_credential_of_another_account_is_refused(client: TestClient) -> None:
    mine, theirs = _account(client), _account(client)
    credential_id = _credential(client, theirs)
    response = client.post(
        "/v1/posts", json={"account_id": mine, "credential_id": credential_id, "text": "hi"}
    )
    assert response.status_code == 422 and response.json()["field"] == "credential_id"


BAD_REQUESTS = [
    ("post", "/v1/posts/999/approve", None, 404),
    ("get", "/v1/posts/999", None, 404),
    ("get", "/v1/posts/abc", None, 422),
    ("get", "/v1/posts/99999999999999999999999", None, 422),
    ("get", "/v1/posts/999/calls", None, 404),
    ("patch", "/v1/accounts/999", {"paused": True}, 404),
    ("post", "/v1/accounts", {"name": "a", "billing_status": "free"}, 422),
    ("post", "/v1/accounts", {}, 422),
    ("get", "/v1/posts?state=nonsense", None, 422),
    ("get", "/v1/posts?limit=100000", None, 422),
    ("put", "/v1/credentials/999/token", {"token": "x"}, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD_REQUESTS)
def test_bad_requests_get_json_errors(
    client: TestClient, method: str, path: str, body: Any, status: int
) -> None:
    response = client.request(method.upper(), path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["message"]


def test_unknown_provider_is_422(client: TestClient) -> None:
    account_id = _account(client)
    response = client.post(
        f"/v1/accounts/{account_id}/credentials",
        json={"provider": "myspace", "base_url": "https://x.y", "token": "t"},
    )
    assert response.status_code == 422 and response.json()["field"] == "provider"


def test_bad_base_url_is_422(client: TestClient) -> None:
    account_id = _account(client)
    response = client.post(
        f"/v1/accounts/{account_id}/credentials",
        json={"provider": "mastodon", "base_url": "ftp:/x", "token": "t"},
    )
    assert response.status_code == 422 and response.json()["field"] == "base_url"


# Tokens go in an HTTP header as they are: whatever cannot is refused, never echoed.
BAD_TOKENS = [
    "tok-line\nbreak",
    "tok-carriage\rreturn",
    "tok-tab\there",
    "tok-nul\x00here",
    " tok-leading-space",
    "tok-trailing-space ",
    "tok inner space",
    "tok-bell\x07",
    "tok-delete\x7f",
    "tok-nbsp\u00a0x",
    "tok-unicode-\u00e9t\u00e9",
    "tok-line-sep\u2028x",
]


@pytest.mark.parametrize("token", BAD_TOKENS, ids=repr)
def test_token_that_cannot_go_in_a_header_is_422(
    client: TestClient, sessions: sessionmaker[Session], token: str
) -> None:
    account_id = _account(client)
    credential_id = _credential(client, account_id)
    created = client.post(
        f"/v1/accounts/{account_id}/credentials",
        json={"provider": "mastodon", "base_url": "https://social.example", "token": token},
    )
    replaced = client.put(f"/v1/credentials/{credential_id}/token", json={"token": token})
    for response in (created, replaced):
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "token"
        assert token not in response.text and token.strip() not in response.text
    assert _count(sessions, Credential) == 1


@pytest.mark.parametrize("token", BAD_TOKENS, ids=repr)
def test_python_api_refuses_a_token_that_cannot_go_in_a_header(
    settings: Settings, sessions: sessionmaker[Session], token: str
) -> None:
    box = token_box(settings)
    with sessions.begin() as session:
        account = service.create_account(session, "acme")
        good = service.add_credential(session, box, account.id, "x", "https://x.example", "t0k!")
        with pytest.raises(InvalidInput) as created:
            service.add_credential(session, box, account.id, "x", "https://x.example", token)
        with pytest.raises(InvalidInput) as replaced:
            service.replace_token(session, box, good.id, token, utcnow())
    assert created.value.field == replaced.value.field == "token"


# (base_url, refused even when private destinations are allowed)
DESTINATIONS = [
    ("http://169.254.169.254/latest/meta-data", True),
    ("http://[fd00:ec2::254]/", True),
    ("http://[fe80::1]/", True),
    ("http://metadata.google.internal/", True),
    ("http://2852039166/", True),
    ("file:///etc/passwd", True),
    ("gopher://127.0.0.1:6379/_", True),
    ("http://127.0.0.1:8000/", False),
    ("http://localhost/", False),
    ("http://[::1]/", False),
    ("http://10.0.0.1/", False),
    ("http://192.168.0.10/", False),
    ("http://100.64.0.1/", False),
    ("http://0.0.0.0/", False),
]


@pytest.mark.parametrize(("base_url", "always"), DESTINATIONS)
def test_forbidden_destination_is_422(
    client: TestClient, settings: Settings, base_url: str, always: bool
) -> None:
    # Private ranges are allowed only in the embedded mode (the SQLite database here)
    refused = always or not settings.allow_private_urls
    account_id = _account(client)
    response = client.post(
        f"/v1/accounts/{account_id}/credentials",
        json={"provider": "webhook", "base_url": base_url, "token": "tok-dest"},
    )
    if refused:
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "base_url"
    else:
        assert response.status_code == 201, response.text


EARLIEST = "0001-01-01T00:00:00+01:00"  # before year 1 in UTC
LATEST = "9999-12-31T23:59:59-01:00"  # after year 9999 in UTC
LONG_BASE_URL = "https://social.example/" + "a" * 1_950  # fits the column, not the log

# (method, path, body, field): hostile input is a 422 naming the field, on both databases
HOSTILE = [
    ("post", "/v1/posts", {"scheduled_at": EARLIEST}, "scheduled_at"),
    ("post", "/v1/posts", {"scheduled_at": LATEST}, "scheduled_at"),
    ("post", "/v1/posts", {"scheduled_at": "9999-12-31T23:59:59Z"}, "scheduled_at"),
    ("post", "/v1/posts", {"text": "hello\x00world"}, "text"),
    ("post", "/v1/posts", {"idempotency_key": "key\x00-12345678"}, "idempotency_key"),
    ("post", "/v1/posts", {"idempotency_key": "cl\u00e9-unique-1234"}, "idempotency_key"),
    (
        "post",
        "/v1/posts",
        {"idempotency_key": "\u043a\u043b\u044e\u0447-1234567"},
        "idempotency_key",
    ),
    ("post", "/v1/posts", {"idempotency_key": "emoji-\U0001f600-1234"}, "idempotency_key"),
    ("post", "/v1/posts", {"options": {"visibility": "pub\x00lic"}}, "options"),
    ("post", "/v1/posts", {"options": {"k\x00": "v"}}, "options"),
    ("post", "/v1/posts", {"options": {"poll": {"options": ["a\x00"]}}}, "options"),
    ("post", "/v1/posts", {"timezone": "UTC\x00"}, "timezone"),
    ("post", "/v1/posts", {"recurrence": "0 9 * * *\x00", "timezone": "UTC"}, "recurrence"),
    ("patch", "/v1/posts/{post}", {"text": "a\x00"}, "text"),
    ("patch", "/v1/posts/{post}", {"options": {"spoiler_text": "\x00"}}, "options"),
    ("patch", "/v1/posts/{post}", {"scheduled_at": EARLIEST}, "scheduled_at"),
    ("patch", "/v1/posts/{post}", {"scheduled_at": LATEST}, "scheduled_at"),
    ("post", "/v1/posts/{post}/approve", {"scheduled_at": EARLIEST}, "scheduled_at"),
    ("post", "/v1/posts/{post}/approve", {"scheduled_at": LATEST}, "scheduled_at"),
    ("post", "/v1/accounts", {"name": "ac\x00me"}, "name"),
    (
        "post",
        "/v1/accounts/{account}/credentials",
        {"base_url": "https://a\x00.example"},
        "base_url",
    ),
    (
        "post",
        "/v1/accounts/{account}/credentials",
        {"base_url": "https://a.example/ x"},
        "base_url",
    ),
    ("post", "/v1/accounts/{account}/credentials", {"base_url": LONG_BASE_URL}, "base_url"),
]


@pytest.mark.parametrize(("method", "path", "change", "field"), HOSTILE)
def test_hostile_input_is_422_and_writes_nothing(
    client: TestClient,
    sessions: sessionmaker[Session],
    method: str,
    path: str,
    change: dict[str, Any],
    field: str,
) -> None:
    draft = _post(client)
    account, credential = draft["account_id"], draft["credential_id"]
    defaults = {
        "/v1/posts": {"account_id": account, "credential_id": credential, "text": "ok"},
        "/v1/accounts": {"name": "ok"},
        "/v1/accounts/{account}/credentials": {
            "provider": "mastodon",
            "base_url": "https://social.example",
            "token": "tok-hostile",
        },
    }
    before = client.get(f"/v1/posts/{draft['id']}").json()
    counts = [_count(sessions, model) for model in (Post, Credential, PostEvent)]
    body = {**defaults.get(path, {}), **change}
    url = path.format(post=draft["id"], account=account)
    response = client.request(method.upper(), url, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.text
    assert [_count(sessions, model) for model in (Post, Credential, PostEvent)] == counts
    assert client.get(f"/v1/posts/{draft['id']}").json() == before


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/accounts", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid"


def test_oversized_body_is_413(client: TestClient, sessions: sessionmaker[Session]) -> None:
    account_id = _account(client)
    body = {"account_id": account_id, "credential_id": 1, "text": "x" * 2_000_000}
    response = client.post("/v1/posts", json=body)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert _count(sessions, Post) == 0


def test_oversized_chunked_body_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(300):
            yield b"x" * 10_000
        yield b'"}'

    response = client.post(
        "/v1/accounts", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdDp0ZXN0"])
def test_missing_or_wrong_key_is_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    client.headers.pop("Authorization")
    response = client.post("/v1/accounts", json={"name": "a"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_reapprove_after_token_replacement(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    post = _post(client)
    client.post(f"/v1/posts/{post['id']}/approve")
    with sessions.begin() as session:  # as the engine leaves it after a 401
        row = session.get(Post, post["id"])
        assert row is not None
        row.state, row.cancel_reason = "cancelled", "unauthorized"
    replaced = client.put(
        f"/v1/credentials/{post['credential_id']}/token",
        json={"token": "fresh-token", "reapprove": True},
    )
    assert replaced.status_code == 200
    shown = client.get(f"/v1/posts/{post['id']}").json()
    assert shown["state"] == "approved"
    assert shown["history"][-1]["reason"] == "token replaced"
    with sessions() as session:
        events = session.scalar(
            select(func.count()).select_from(PostEvent).where(PostEvent.post_id == post["id"])
        )
    assert events == 3  # approve, reopen, approve


def test_retried_create_with_idempotency_key_returns_the_same_post(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    account_id = _account(client)
    credential_id = _credential(client, account_id)
    body = {
        "account_id": account_id,
        "credential_id": credential_id,
        "text": "once",
        "idempotency_key": "app-post-00042",
    }
    first = client.post("/v1/posts", json=body)
    again = client.post("/v1/posts", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["idempotency_key"] == "app-post-00042"
    assert _count(sessions, Post) == 1
    different = client.post("/v1/posts", json=body | {"text": "other"})
    assert different.status_code == 409 and different.json()["field"] == "idempotency_key"
    short = client.post("/v1/posts", json=body | {"idempotency_key": "x"})
    assert short.status_code == 422 and short.json()["field"] == "idempotency_key"


# A credential's concurrency limit (max_in_flight)

BASE = {"provider": "mastodon", "base_url": "https://social.example", "token": "t"}


def test_max_in_flight_on_create_and_update(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    account_id = _account(client)
    created = client.post(
        f"/v1/accounts/{account_id}/credentials", json={**BASE, "max_in_flight": 3}
    )
    assert created.status_code == 201 and created.json()["max_in_flight"] == 3
    credential_id = created.json()["id"]
    # left out: unchanged; a number: set; null: back to PUBLISHER_CREDENTIAL_CONCURRENCY
    assert client.patch(f"/v1/credentials/{credential_id}", json={}).json()["max_in_flight"] == 3
    patched = client.patch(f"/v1/credentials/{credential_id}", json={"max_in_flight": 1})
    assert patched.status_code == 200 and patched.json()["max_in_flight"] == 1
    with sessions() as session:
        stored = session.get(Credential, credential_id)
        assert stored is not None and stored.max_in_flight == 1
    cleared = client.patch(f"/v1/credentials/{credential_id}", json={"max_in_flight": None})
    assert cleared.status_code == 200 and cleared.json()["max_in_flight"] is None
    assert client.get(f"/v1/credentials/{credential_id}").json()["max_in_flight"] is None
    default = client.post(f"/v1/accounts/{account_id}/credentials", json=BASE)
    assert default.json()["max_in_flight"] is None


@pytest.mark.parametrize("value", [0, -1, 1001, 1.5, "2", True])
def test_max_in_flight_must_be_at_least_one(
    client: TestClient, sessions: sessionmaker[Session], value: Any
) -> None:
    account_id = _account(client)
    created = client.post(
        f"/v1/accounts/{account_id}/credentials", json={**BASE, "max_in_flight": value}
    )
    assert created.status_code == 422 and created.json()["field"] == "max_in_flight"
    credential_id = _credential(client, account_id)
    patched = client.patch(f"/v1/credentials/{credential_id}", json={"max_in_flight": value})
    assert patched.status_code == 422 and patched.json()["field"] == "max_in_flight"
    with sessions() as session:
        stored = session.get(Credential, credential_id)
        assert stored is not None and stored.max_in_flight is None


def test_patching_an_unknown_credential_is_404(client: TestClient) -> None:
    response = client.patch("/v1/credentials/999999", json={"max_in_flight": 2})
    assert response.status_code == 404


@pytest.mark.parametrize("value", [0, -3, 1001, True, 2.0])
def test_python_api_validates_max_in_flight(
    sessions: sessionmaker[Session], settings: Settings, value: Any
) -> None:
    from datetime import UTC, datetime

    from publisher.core import service
    from publisher.core.tokens import token_box
    from publisher.errors import InvalidInput

    box = token_box(settings)
    with sessions.begin() as session:
        account = service.create_account(session, "acme")
        with pytest.raises(InvalidInput) as refused:
            service.add_credential(
                session, box, account.id, "mastodon", "https://m.example", "t", max_in_flight=value
            )
        assert refused.value.field == "max_in_flight"
        credential = service.add_credential(
            session, box, account.id, "mastodon", "https://m.example", "t", max_in_flight=2
        )
        now = datetime.now(UTC)
        with pytest.raises(InvalidInput):
            service.update_credential(session, credential.id, now, max_in_flight=value)
        assert service.update_credential(session, credential.id, now).max_in_flight == 2
        updated = service.update_credential(session, credential.id, now, max_in_flight=None)
        assert updated.max_in_flight is None


# A credential's own text limit (max_text_length), e.g. an instance allowing more than 500


def test_max_text_length_replaces_the_networks_limit(client: TestClient) -> None:
    # Given a Mastodon credential whose instance allows 1,000 characters
    account_id = _account(client)
    created = client.post(
        f"/v1/accounts/{account_id}/credentials", json={**BASE, "max_text_length": 1000}
    )
    assert created.status_code == 201 and created.json()["max_text_length"] == 1000
    credential_id = created.json()["id"]
    post = {"account_id": account_id, "credential_id": credential_id}
    # Then 1,000 characters pass and 1,001 are refused, naming that limit
    assert client.post("/v1/posts", json={**post, "text": "x" * 1000}).status_code == 201
    refused = client.post("/v1/posts", json={**post, "text": "x" * 1001})
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"] == (
        "is 1001 as Mastodon counts it (content warning included, URLs 23, @user@domain as "
        "@user); mastodon allows 1000"
    )
    # When it is cleared (null), the network's default (500) applies again
    cleared = client.patch(f"/v1/credentials/{credential_id}", json={"max_text_length": None})
    assert cleared.status_code == 200 and cleared.json()["max_text_length"] is None
    assert client.post("/v1/posts", json={**post, "text": "x" * 501}).status_code == 422


@pytest.mark.parametrize("value", [0, 1_000_001, 1.5, "2", True])
def test_max_text_length_must_be_a_positive_integer(client: TestClient, value: Any) -> None:
    account_id = _account(client)
    created = client.post(
        f"/v1/accounts/{account_id}/credentials", json={**BASE, "max_text_length": value}
    )
    assert created.status_code == 422 and created.json()["field"] == "max_text_length"


def test_a_content_warning_counts_toward_mastodons_limit_when_editing(client: TestClient) -> None:
    # Given a Mastodon draft of 490 characters
    post = _post(client, text="x" * 490)
    # When a 20-character content warning is added, Mastodon would count 510: refused
    refused = client.patch(f"/v1/posts/{post['id']}", json={"options": {"spoiler_text": "w" * 20}})
    assert refused.status_code == 422 and refused.json()["field"] == "text", refused.text
    assert refused.json()["message"].startswith("is 510 as Mastodon counts it")
    # A 10-character one fits (500)
    fits = client.patch(f"/v1/posts/{post['id']}", json={"options": {"spoiler_text": "w" * 10}})
    assert fits.status_code == 200, fits.text
