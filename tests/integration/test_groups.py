"""Post groups end to end: created, approved and read over the HTTP API, published by real
``celery worker`` processes (and beat) on a real Redis and database, against a strict
sandbox (every create creates, keys ignored), so once-each is publisher's own doing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from publisher.api.app import create_app
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline
from tests.support.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NETWORKS = ("x", "mastodon", "webhook")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """One pipeline per database, two workers racing for every post, a strict sandbox."""
    workdir = tmp_path_factory.mktemp(f"groups-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'publisher.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"groups_{workdir.name.replace('-', '_')}")
    with RedisServer() as redis_server, Sandbox(strict=True) as sandbox:
        running = Pipeline(workdir, url, redis_server.url, sandbox)
        running.start_worker("worker", concurrency=2)
        running.start_worker("worker2", concurrency=2)
        running.start_beat()
        yield running
        running.stop()


@pytest.fixture
def api(pipeline: Pipeline) -> Iterator[TestClient]:
    """The HTTP API on the pipeline's database (a loopback client: no key needed)."""
    with TestClient(create_app(pipeline.settings, sessions=pipeline.sessions)) as client:
        yield client


def _group(api: TestClient, pipeline: Pipeline, overrides: dict[str, Any]) -> dict[str, Any]:
    """A group to X, Mastodon and a webhook of a new account, approved as one."""
    account = pipeline.account()
    ids = [pipeline.credential(account, network) for network in NETWORKS]
    body = {"account_id": account, "credential_ids": ids, "text": f"shared {account}"}
    created = api.post("/v1/post-groups", json=body | {"overrides": overrides})
    assert created.status_code == 201, created.text
    approved = api.post(f"/v1/post-groups/{created.json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["counts"]["approved"] == 3
    group: dict[str, Any] = approved.json()
    return group


def test_a_group_is_published_once_per_network_with_its_own_content(
    api: TestClient, pipeline: Pipeline
) -> None:
    # Given a group approved as one: a thread for X, a text of its own for the others
    tag = pipeline.account()
    thread = [f"x thread {tag} (1/2)", f"x thread {tag} (2/2)"]
    overrides: dict[str, Any] = {
        network: {"text": f"{network} says hello {tag}"} for network in NETWORKS[1:]
    }
    overrides["x"] = {"parts": [{"text": text} for text in thread]}
    group = _group(api, pipeline, overrides)
    # When the workers have run every member
    pipeline.wait_final([m["id"] for m in group["members"]])
    # Then each member is done in one attempt, created once at its network
    shown = api.get(f"/v1/post-groups/{group['id']}").json()
    assert shown["counts"]["done"] == 3, shown["members"]
    x, *others = shown["members"]
    for member, network in zip(others, NETWORKS[1:], strict=True):
        assert member["text"] == f"{network} says hello {tag}"
        assert (member["state"], member["attempts"]) == ("done", 1), member["last_error"]
        assert pipeline.sandbox.ids_for(member["text"]) == [member["external_id"]]
        assert pipeline.sandbox.ids_for(member["text"], kind=network) == [member["external_id"]]
    # And X's thread: each part created once, its remote id shown on the part
    assert (x["state"], x["attempts"]) == ("done", 1), x["last_error"]
    for part, text in zip(x["parts"], thread, strict=True):
        assert part["text"] == text
        assert pipeline.sandbox.ids_for(text, kind="x") == [part["external_id"]]


def test_one_member_refused_while_the_others_publish(api: TestClient, pipeline: Pipeline) -> None:
    # Given a group whose Mastodon text the network refuses (403: forbidden)
    tag = pipeline.account()
    group = _group(api, pipeline, {"mastodon": {"text": f"[[fault:403]] refused {tag}"}})
    # When the workers have run every member
    pipeline.wait_final([m["id"] for m in group["members"]])
    # Then X and the webhook are published once each, and Mastodon is cancelled, alone
    shown = api.get(f"/v1/post-groups/{group['id']}").json()
    x, mastodon, webhook = shown["members"]
    assert (x["state"], webhook["state"]) == ("done", "done"), shown["members"]
    assert (mastodon["state"], mastodon["cancel_reason"]) == ("cancelled", "forbidden")
    assert mastodon["last_error"]["category"] == "forbidden"
    assert shown["counts"] | {"done": 2, "cancelled": 1} == shown["counts"]
    # (X and the webhook share the group's text: each network created it once)
    assert pipeline.sandbox.ids_for(x["text"], kind="x") == [x["external_id"]]
    assert pipeline.sandbox.ids_for(webhook["text"], kind="webhook") == [webhook["external_id"]]
    assert pipeline.sandbox.ids_for(mastodon["text"]) == []
    assert [n.kind for n in pipeline.notifications(mastodon["id"])] == ["forbidden"]
