"""Post groups over HTTP (in-process ASGI client) and the Python API, on SQLite and
PostgreSQL: create with overrides, every refusal writes nothing, idempotent retries,
approve / unapprove all or nothing, cancel what can be cancelled."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.api.groups import EXAMPLES, GroupIn
from publisher.core import db, service
from publisher.core.models import Post, PostEvent, PostGroup, utcnow
from publisher.core.settings import Settings
from publisher.errors import Conflict, InvalidInput
from tests.integration.conftest import AUTH

BASE_URLS = {
    "mastodon": "https://social.example",
    "x": "https://api.x.com",
    "webhook": "https://hooks.example/in",
}


@pytest.fixture
def client(api: TestClient) -> TestClient:
    return api


def _account(client: TestClient) -> int:
    response = client.post("/v1/accounts", json={"name": "acme"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _credential(client: TestClient, account_id: int, provider: str) -> int:
    response = client.post(
        f"/v1/accounts/{account_id}/credentials",
        json={"provider": provider, "base_url": BASE_URLS[provider], "token": "s3cret-tok"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _networks(client: TestClient) -> tuple[int, dict[str, int]]:
    """An account with an X, a Mastodon and a webhook credential."""
    account_id = _account(client)
    return account_id, {p: _credential(client, account_id, p) for p in ("x", "mastodon", "webhook")}


def _body(account_id: int, credentials: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "credential_ids": [credentials["x"], credentials["mastodon"], credentials["webhook"]],
        "text": "Spring release is out",
        **extra,
    }


def _create(client: TestClient, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post("/v1/post-groups", json=body)
    assert response.status_code == status, response.text
    created: dict[str, Any] = response.json()
    return created


def _count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _nothing_written(sessions: sessionmaker[Session]) -> None:
    assert (_count(sessions, PostGroup), _count(sessions, Post)) == (0, 0)


def _set_state(sessions: sessionmaker[Session], post_id: int, state: str) -> None:
    with sessions.begin() as session:
        session.execute(update(Post).where(Post.id == post_id).values(state=state))


# Create ------------------------------------------------------------------------------


def test_a_group_is_one_draft_per_credential_with_its_overrides(client: TestClient) -> None:
    # Given X, Mastodon and webhook credentials, and a second Mastodon credential
    account_id, creds = _networks(client)
    second = _credential(client, account_id, "mastodon")
    body = _body(account_id, creds, scheduled_at="2030-01-01T09:00:00Z", max_attempts=3)
    body["credential_ids"].append(second)
    body["options"] = {"shared": True}
    # When overrides name a provider (X, Mastodon) and one credential (beats Mastodon's)
    body["overrides"] = {
        "x": {"text": "Short for X"},
        "mastodon": {"text": "For Mastodon", "options": {"spoiler_text": "release"}},
        str(second): {"text": "For the second Mastodon account"},
    }
    group = _create(client, body)
    # Then each credential has one draft with the most specific value of each field
    members = group["members"]
    assert [(m["credential_id"], m["text"], m["options"]) for m in members] == [
        (creds["x"], "Short for X", {"shared": True}),
        (creds["mastodon"], "For Mastodon", {"spoiler_text": "release"}),
        (creds["webhook"], "Spring release is out", {"shared": True}),
        (second, "For the second Mastodon account", {"spoiler_text": "release"}),
    ]
    assert {(m["state"], m["group_id"], m["max_attempts"]) for m in members} == {
        ("draft", group["id"], 3)
    }
    assert {m["scheduled_at"][:19] for m in members} == {"2030-01-01T09:00:00"}
    assert group["counts"] == {
        "draft": 4,
        "approved": 0,
        "running": 0,
        "retry": 0,
        "done": 0,
        "cancelled": 0,
    }
    # And the group reads back the same, and each member shows its group in the post API
    assert client.get(f"/v1/post-groups/{group['id']}").json() == group
    assert client.get(f"/v1/posts/{members[0]['id']}").json()["group_id"] == group["id"]


def test_shared_text_may_be_left_out_when_every_member_has_its_own(client: TestClient) -> None:
    account_id, creds = _networks(client)
    body = _body(account_id, creds)
    del body["text"]
    body["overrides"] = {p: {"text": f"for {p}"} for p in ("x", "mastodon", "webhook")}
    group = _create(client, body)
    assert [m["text"] for m in group["members"]] == ["for x", "for mastodon", "for webhook"]


def test_one_network_may_get_a_thread_and_a_retry_returns_it(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a group whose X member is a two-part thread, the others the shared text
    account_id, creds = _networks(client)
    thread = [{"text": "Spring release (1/2)"}, {"text": "Details: offline mode (2/2)"}]
    body = _body(account_id, creds, idempotency_key="thread-2030-04")
    body["overrides"] = {"x": {"parts": thread}}
    group = _create(client, body)
    # Then X's member holds the parts, and the others one text each
    x, mastodon, webhook = group["members"]
    assert [p["text"] for p in x["parts"]] == [p["text"] for p in thread]
    assert x["text"] == thread[0]["text"]
    assert [p["text"] for p in mastodon["parts"]] == ["Spring release is out"]
    assert webhook["text"] == "Spring release is out"
    # And a retry of the same request is the same group
    assert _create(client, body, status=200) == group
    assert _count(sessions, Post) == 3


def _too_many(account_id: int, creds: dict[str, int]) -> dict[str, Any]:
    return {"credential_ids": list(range(1, service.MAX_MEMBERS + 2))}


# (change to a valid body, status, field, words of the message: "{x}" is the X credential's
# id); every one writes nothing.
REFUSALS: list[tuple[Any, int, str, str]] = [
    (lambda a, c: {"credential_ids": []}, 422, "credential_ids", "at least 1"),
    (_too_many, 422, "credential_ids", "at most 50"),
    (
        lambda a, c: {"credential_ids": [c["x"], c["mastodon"], c["x"]]},
        422,
        "credential_ids[2]",
        "listed twice",
    ),
    (
        lambda a, c: {"credential_ids": [c["x"], 999_999]},
        404,
        "credential_ids[1]",
        "credential 999999 not found",
    ),
    (lambda a, c: {"account_id": 999_999}, 404, "account_id", "not found"),
    (
        lambda a, c: {"overrides": {"mastadon": {"text": "typo"}}},
        422,
        "overrides.mastadon",
        "must be a provider",
    ),
    (
        lambda a, c: {"overrides": {"999999": {"text": "not a member"}}},
        422,
        "overrides.999999",
        "one of the group's credentials",
    ),
    (
        lambda a, c: {"overrides": {"x": {"colour": "red"}}},
        422,
        "overrides.x.colour",
        "Extra inputs",
    ),
    (
        lambda a, c: {"overrides": {"x": {"text": "x" * 281}}},
        422,
        "overrides.x.text",
        "credential {x} (x): is 281 as X counts it",
    ),
    (
        lambda a, c: {"text": "y" * 300},  # Mastodon and the webhook take it; X does not
        422,
        "text",
        "credential {x} (x): is 300",
    ),
    (
        lambda a, c: {"overrides": {str(c["mastodon"]): {"text": "  "}}},
        422,
        "overrides.{mastodon}.text",
        "must not be empty",
    ),
    (
        lambda a, c: {"text": None, "overrides": {"x": {"text": "only X"}}},
        422,
        "text",
        "credential {mastodon} (mastodon) has no text",
    ),
    (lambda a, c: {"scheduled_at": "2030-01-01T09:00:00"}, 422, "scheduled_at", "timezone"),
    (lambda a, c: {"idempotency_key": "k" * 45}, 422, "idempotency_key", "at most 44"),
    (lambda a, c: {"max_attempts": 0}, 422, "max_attempts", "greater than or equal to 1"),
    (
        lambda a, c: {"overrides": {"x": {"parts": [{"text": "ok"}, {"text": "x" * 281}]}}},
        422,
        "overrides.x.parts[1].text",
        "credential {x} (x): is 281 as X counts it",
    ),
    (
        lambda a, c: {"overrides": {"x": {"text": "one", "parts": [{"text": "two"}]}}},
        422,
        "overrides.x.parts",
        "credential {x} (x): give either text (and media) or parts, not both",
    ),
    (
        lambda a, c: {"text": None, "parts": []},
        422,
        "parts",
        "credential {x} (x): must hold at least one",
    ),
    (lambda a, c: {"parts": [{"text": "a"}]}, 422, "parts", "give either text (and media) or"),
    # Hostile values: NUL (PostgreSQL text cannot hold it), keys no header can carry
    (lambda a, c: {"text": "nul\x00"}, 422, "text", "NUL"),
    (lambda a, c: {"overrides": {"x": {"text": "nul\x00"}}}, 422, "overrides.x.text", "NUL"),
    (
        lambda a, c: {"overrides": {"mastodon": {"options": {"\x00": 1}}}},
        422,
        "overrides.mastodon.options",
        "credential {mastodon} (mastodon): must not contain NUL",
    ),
    (lambda a, c: {"idempotency_key": "clé-unique-0001"}, 422, "idempotency_key", "ASCII"),
]


@pytest.mark.parametrize(("change", "status", "field", "words"), REFUSALS)
def test_every_refusal_names_the_problem_and_writes_nothing(
    client: TestClient,
    sessions: sessionmaker[Session],
    change: Any,
    status: int,
    field: str,
    words: str,
) -> None:
    account_id, creds = _networks(client)
    body = _body(account_id, creds) | change(account_id, creds)
    response = client.post("/v1/post-groups", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field.format(**creds), response.json()
    assert words.format(**creds) in response.json()["message"], response.json()
    _nothing_written(sessions)


def test_a_credential_of_another_account_is_refused(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    account_id, creds = _networks(client)
    theirs = _credential(client, _account(client), "x")
    body = _body(account_id, creds) | {"credential_ids": [creds["mastodon"], theirs]}
    response = client.post("/v1/post-groups", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "credential_ids[1]"
    assert f"credential {theirs} is not this account's" in response.json()["message"]
    _nothing_written(sessions)


def test_a_refused_member_writes_nothing_even_if_the_caller_commits(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a Python caller whose group's last member (X) has a text too long for X
    account_id, creds = _networks(client)
    ids = [creds["mastodon"], creds["webhook"], creds["x"]]
    # When it catches the refusal and commits its transaction anyway
    with sessions.begin() as session, pytest.raises(InvalidInput) as refused:
        service.create_group(session, account_id, ids, "z" * 281)
    # Then the members created before the refusal are gone with it
    assert refused.value.field == "text"
    _nothing_written(sessions)


def test_python_overrides_may_be_keyed_by_credential_id(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    account_id, creds = _networks(client)
    with sessions.begin() as session:
        view = service.create_group(
            session,
            account_id,
            [creds["x"], creds["mastodon"]],
            "shared",
            overrides={creds["x"]: {"text": "by id"}},
        )
        assert [p.text for p in view.members] == ["by id", "shared"]


# Idempotency -------------------------------------------------------------------------


def test_a_retried_create_returns_the_same_group_with_stable_member_keys(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a group created with an idempotency key
    account_id, creds = _networks(client)
    body = _body(account_id, creds, idempotency_key="release-2030-04")
    first = _create(client, body)
    # When the main app retries it (it timed out, say)
    again = _create(client, body, status=200)
    # Then it gets the same group and members, and nothing more was written
    assert again == first
    assert (_count(sessions, PostGroup), _count(sessions, Post)) == (1, 3)
    # And each member's key (the one sent to its provider) derives from the group's
    assert [m["idempotency_key"] for m in first["members"]] == [
        f"release-2030-04-{cid}" for cid in body["credential_ids"]
    ]


@pytest.mark.timeout(60)
def test_concurrent_creates_with_one_key_make_one_group(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given eight requests for one keyed group, released at once
    account_id, creds = _networks(client)
    ids = list(creds.values())
    start, made, errors = threading.Barrier(8), [], []

    def create() -> None:
        start.wait()
        try:
            with db.transaction(sessions) as session:
                view = service.create_group(
                    session, account_id, ids, "same", idempotency_key="race-0001"
                )
                made.append((view.group.id, [p.id for p in view.members]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then all eight got the one group, with its three members, and nothing more exists
    assert errors == []
    assert len(made) == 8 and len(set(map(str, made))) == 1
    assert (_count(sessions, PostGroup), _count(sessions, Post)) == (1, 3)


def test_a_key_reused_for_a_different_group_is_409(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    account_id, creds = _networks(client)
    _create(client, _body(account_id, creds, idempotency_key="release-2030-04"))
    changed = _body(account_id, creds, idempotency_key="release-2030-04", text="other words")
    response = client.post("/v1/post-groups", json=changed)
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "idempotency_key"
    fewer = _body(account_id, creds, idempotency_key="release-2030-04")
    fewer["credential_ids"].pop()
    assert client.post("/v1/post-groups", json=fewer).status_code == 409
    assert (_count(sessions, PostGroup), _count(sessions, Post)) == (1, 3)


def test_a_member_key_already_taken_by_a_post_is_409_and_writes_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a standalone post whose key is what the group would derive for its X member
    account_id, creds = _networks(client)
    alone = {"account_id": account_id, "credential_id": creds["x"], "text": "Spring release is out"}
    alone["idempotency_key"] = f"release-2030-04-{creds['x']}"
    assert client.post("/v1/posts", json=alone).status_code == 201
    # When a group with that key is created, the post is not adopted: 409, nothing written
    body = _body(account_id, creds, idempotency_key="release-2030-04")
    body["credential_ids"] = [creds["mastodon"], creds["x"]]
    response = client.post("/v1/post-groups", json=body)
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "idempotency_key"
    assert (_count(sessions, PostGroup), _count(sessions, Post)) == (0, 1)


# Approve, unapprove, cancel ----------------------------------------------------------


def test_approve_and_unapprove_move_every_member_as_one(client: TestClient) -> None:
    account_id, creds = _networks(client)
    group = _create(client, _body(account_id, creds))
    approved = client.post(
        f"/v1/post-groups/{group['id']}/approve", json={"scheduled_at": "2030-01-01T10:00:00+01:00"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["counts"]["approved"] == 3
    assert {m["next_run_at"][:19] for m in approved.json()["members"]} == {"2030-01-01T09:00:00"}
    # A second approve is a conflict naming the first member, like a post's
    again = client.post(f"/v1/post-groups/{group['id']}/approve")
    assert again.status_code == 409
    assert (again.json()["state"], again.json()["field"]) == ("approved", "members[0]")
    unapproved = client.post(f"/v1/post-groups/{group['id']}/unapprove")
    assert unapproved.status_code == 200, unapproved.text
    assert unapproved.json()["counts"]["draft"] == 3


def test_approve_announces_every_member_to_the_engine(
    settings: Settings, sessions: sessionmaker[Session], client: TestClient
) -> None:
    # Given an API that tells the engine of approved posts (so soon-due ones start on time)
    announced: list[int] = []
    app = create_app(settings, sessions=sessions, on_approved=lambda i, _at: announced.append(i))
    account_id, creds = _networks(client)
    group = _create(client, _body(account_id, creds))
    # When the group is approved there, every member is announced
    with TestClient(app, headers=AUTH) as announcing:
        assert announcing.post(f"/v1/post-groups/{group['id']}/approve").status_code == 200
    assert announced == [m["id"] for m in group["members"]]


def test_approve_changes_nothing_when_one_member_is_not_a_draft(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a group whose last member was approved on its own
    account_id, creds = _networks(client)
    group = _create(client, _body(account_id, creds))
    last = group["members"][2]["id"]
    assert client.post(f"/v1/posts/{last}/approve").status_code == 200
    # When the group is approved
    response = client.post(f"/v1/post-groups/{group['id']}/approve")
    # Then 409 names that member, and the two drafts are still drafts, with no history
    assert response.status_code == 409, response.text
    body = response.json()
    assert (body["field"], body["state"]) == ("members[2]", "approved")
    assert f"post {last} (credential {creds['webhook']})" in body["message"]
    shown = client.get(f"/v1/post-groups/{group['id']}").json()
    assert [m["state"] for m in shown["members"]] == ["draft", "draft", "approved"]
    assert _count(sessions, PostEvent) == 1  # the lone member's own approval


def test_approve_rolls_back_the_members_already_moved_when_one_loses_a_race(
    client: TestClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a group whose last member is approved by someone else while the group's
    # approval is under way (after the check, before its own move)
    account_id, creds = _networks(client)
    group = _create(client, _body(account_id, creds))
    ids = [m["id"] for m in group["members"]]
    real = service.groups.approve

    def racing(session: Session, post_id: int, *args: Any) -> Post:
        if post_id == ids[2]:
            session.execute(update(Post).where(Post.id == post_id).values(state="approved"))
        return real(session, post_id, *args)

    monkeypatch.setattr(service.groups, "approve", racing)
    # When the last move loses (the caller catches it and commits anyway)
    with sessions.begin() as session, pytest.raises(Conflict):
        service.approve_group(session, group["id"], utcnow())
    # Then the first two members' approvals were undone with it
    with sessions() as session:
        assert [p.state for p in service.get_group(session, group["id"]).members] == ["draft"] * 3
    assert _count(sessions, PostEvent) == 0


def test_unapprove_changes_nothing_when_one_member_started(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    account_id, creds = _networks(client)
    group = _create(client, _body(account_id, creds))
    client.post(f"/v1/post-groups/{group['id']}/approve")
    response = client.post(f"/v1/post-groups/{group['id']}/unapprove")
    assert response.status_code == 200
    client.post(f"/v1/post-groups/{group['id']}/approve")
    _set_state(sessions, group["members"][1]["id"], "running")
    refused = client.post(f"/v1/post-groups/{group['id']}/unapprove")
    assert refused.status_code == 409
    assert (refused.json()["field"], refused.json()["state"]) == ("members[1]", "running")
    shown = client.get(f"/v1/post-groups/{group['id']}").json()
    assert [m["state"] for m in shown["members"]] == ["approved", "running", "approved"]


def test_cancel_stops_what_it_can_and_shows_every_member(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given an approved group of four: one published, one in its provider call
    account_id, creds = _networks(client)
    body = _body(account_id, creds)
    body["credential_ids"].append(_credential(client, account_id, "mastodon"))
    group = _create(client, body)
    client.post(f"/v1/post-groups/{group['id']}/approve")
    ids = [m["id"] for m in group["members"]]
    _set_state(sessions, ids[0], "done")
    _set_state(sessions, ids[1], "running")
    _set_state(sessions, ids[2], "retry")
    # When the group is cancelled
    response = client.post(f"/v1/post-groups/{group['id']}/cancel")
    # Then done stays done, running is left to its worker, the rest are cancelled
    assert response.status_code == 200, response.text
    shown = response.json()
    assert [m["state"] for m in shown["members"]] == ["done", "running", "cancelled", "cancelled"]
    assert shown["counts"] | {"done": 1, "running": 1, "cancelled": 2} == shown["counts"]
    assert [m["cancel_reason"] for m in shown["members"][2:]] == ["user", "user"]
    # And a second cancel changes nothing and still answers
    again = client.post(f"/v1/post-groups/{group['id']}/cancel")
    assert again.status_code == 200
    assert [m["state"] for m in again.json()["members"]] == [m["state"] for m in shown["members"]]


def test_cancel_leaves_a_member_a_worker_claims_meanwhile(
    client: TestClient, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an approved group whose second member a worker claims while the group is
    # being cancelled (after the group was read, before that member's own move)
    account_id, creds = _networks(client)
    group = _create(client, _body(account_id, creds))
    client.post(f"/v1/post-groups/{group['id']}/approve")
    ids = [m["id"] for m in group["members"]]
    real = service.groups.cancel

    def claimed_first(session: Session, post_id: int, *args: Any) -> Post:
        if post_id == ids[1]:
            session.execute(update(Post).where(Post.id == post_id).values(state="running"))
        return real(session, post_id, *args)

    monkeypatch.setattr(service.groups, "cancel", claimed_first)
    # When the group is cancelled
    response = client.post(f"/v1/post-groups/{group['id']}/cancel")
    # Then the others are cancelled all the same, and the claimed one is shown running
    assert response.status_code == 200, response.text
    assert [m["state"] for m in response.json()["members"]] == ["cancelled", "running", "cancelled"]


def test_an_unknown_group_is_404_json(client: TestClient) -> None:
    for method, path in (
        ("get", "/v1/post-groups/999"),
        ("post", "/v1/post-groups/999/approve"),
        ("post", "/v1/post-groups/999/unapprove"),
        ("post", "/v1/post-groups/999/cancel"),
    ):
        response = client.request(method, path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["field"] == "group_id"
    assert client.get("/v1/post-groups/0").status_code == 422


def test_the_openapi_request_body_has_valid_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/v1/post-groups"]["post"]["requestBody"]["content"]
    examples = content["application/json"]["examples"]
    assert set(examples) == set(EXAMPLES)
    for example in examples.values():
        GroupIn.model_validate(example["value"])


def test_the_readme_example_is_the_openapi_example_and_valid() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Post groups\n") :]
    match = re.search(r"-d '(\{.*?\})'", section, re.S)
    assert match is not None, "no curl body under '### Post groups'"
    body = json.loads(match.group(1))
    assert body == EXAMPLES["three_networks"]["value"]
    GroupIn.model_validate(body)
