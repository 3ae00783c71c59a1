"""Bluesky through real workers against the sandbox's PDS, strict: a record key names one
record, and a create at a key that exists answers 500 (never a clean "duplicate").

What these tests see, publisher made: every post created once under its derived key,
``done`` with the record's at-URI; an ambiguous attempt is read back by ``getRecord``,
never re-created; when nothing can tell, the post ends ``unconfirmed``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from publisher.api.app import create_app
from publisher.core import blobs, service
from publisher.core.models import Credential
from publisher.core.service.oauth import OAuthFields
from publisher.sandbox import Sandbox
from publisher.sandbox.bluesky import REFRESH_SCOPE, handle_did, mint_jwt
from tests.conftest import SQLITE_ONLY
from tests.support.media_files import JPEG, PNG, sized
from tests.support.pipeline import Pipeline, running_pipeline
from tests.unit.test_bluesky import jwt

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

AFTER_STORE = ("503_after", "502_after", "504_after", "reset_after", "slow", "malformed")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=3.0, strict=["bluesky"]) as running:
        yield running


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with running_pipeline(
        tmp_path, database_url, sandbox, PUBLISHER_RECONCILE_TIMEOUT="4"
    ) as running:
        yield running


def session_token(did: str, lifetime: float = 3600.0) -> str:
    """An access JWT for ``did`` living ``lifetime`` seconds (negative: expired)."""
    now = time.time()
    return jwt({"sub": did, "iat": now, "exp": now + lifetime})


def connect(pipeline: Pipeline, did: str, lifetime: float = 3600.0) -> tuple[int, int]:
    account = pipeline.account()
    credential = pipeline.credential(account, "bluesky", token=session_token(did, lifetime))
    return account, credential


def records(pipeline: Pipeline, text: str) -> list[dict[str, Any]]:
    """The records the PDS holds with ``text``."""
    return [c.payload for c in pipeline.sandbox.creates if c.kind == "bluesky" and c.text == text]


def test_posts_and_threads_are_created_once_with_links_and_reply_refs(pipeline: Pipeline) -> None:
    # Given a post with a link and a three-part thread
    account, credential = connect(pipeline, "did:plc:happy")
    single = pipeline.post(account, credential, "read https://example.com/ü 🦋")
    texts = ["thread 1/3", "thread 2/3", "thread 3/3"]
    thread = pipeline.post(account, credential, None, parts=[{"text": t} for t in texts])
    # When workers publish them
    pipeline.start_worker(concurrency=2)
    pipeline.start_beat()
    posts = pipeline.wait_final([single, thread])
    # Then the post is done with its record's at-URI, its link a facet in UTF-8 bytes
    post = posts[single]
    assert post.state == "done", post.last_error_message
    [record] = records(pipeline, post.text)
    assert (post.external_id or "").split()[0] == record["uri"]
    rkey = record["uri"].rsplit("/", 1)[1]
    assert post.external_url == f"https://bsky.app/profile/did:plc:happy/post/{rkey}"
    [facet] = record["value"]["facets"]
    span = slice(facet["index"]["byteStart"], facet["index"]["byteEnd"])
    assert post.text.encode()[span] == "https://example.com/ü".encode()
    # And each part was created once, replying to its root and the part before
    assert posts[thread].state == "done", posts[thread].last_error_message
    parts = [records(pipeline, text) for text in texts]
    assert [len(p) for p in parts] == [1, 1, 1]
    root, second, third = (p[0] for p in parts)
    assert "reply" not in root["value"]
    assert second["value"]["reply"] == {"root": _ref(root), "parent": _ref(root)}
    assert third["value"]["reply"] == {"root": _ref(root), "parent": _ref(second)}


@SQLITE_ONLY
def test_mentions_become_facets_naming_the_resolved_did(pipeline: Pipeline) -> None:
    # Given a post mentioning a known account (after an emoji, so bytes and characters
    # differ), an account the PDS cannot resolve, and a link; and a post naming no one
    account, credential = connect(pipeline, "did:plc:mentions")
    text = "🦋 hi @Alice.example.com, not @unknown.nobody.test: https://example.com/a"
    mentioning = pipeline.post(account, credential, text)
    plain = pipeline.post(account, credential, "no one to name here")
    # When workers publish them
    pipeline.start_worker(concurrency=2)
    pipeline.start_beat()
    posts = pipeline.wait_final([mentioning, plain])
    # Then the known handle is a mention facet over "@Alice.example.com" naming its DID,
    # the unknown one stays plain text, and the link keeps its facet, in byte order
    assert posts[mentioning].state == "done", posts[mentioning].last_error_message
    [record] = records(pipeline, text)
    facets = record["value"]["facets"]
    spans = [text.encode()[f["index"]["byteStart"] : f["index"]["byteEnd"]] for f in facets]
    assert spans == [b"@Alice.example.com", b"https://example.com/a"]
    assert facets[0]["features"] == [
        {"$type": "app.bsky.richtext.facet#mention", "did": handle_did("alice.example.com")}
    ]
    # And the two handles were resolved before the create, once each; the plain post
    # (the one-step path) asked for none
    resolves = [c.path for c in pipeline.sandbox.calls if "resolveHandle" in c.path]
    assert sorted(resolves) == [
        "/xrpc/com.atproto.identity.resolveHandle?handle=alice.example.com",
        "/xrpc/com.atproto.identity.resolveHandle?handle=unknown.nobody.test",
    ]
    assert posts[plain].state == "done"


def _ref(record: dict[str, Any]) -> dict[str, str]:
    return {"uri": record["uri"], "cid": record["cid"]}


@pytest.mark.parametrize(
    ("marker", "lifetime", "state", "reason"),
    [
        ("403", 3600.0, "cancelled", "forbidden"),  # Forbidden
        ("422", 3600.0, "cancelled", "forbidden"),  # 400 InvalidRequest
        ("401", 3600.0, "cancelled", "unauthorized"),  # AuthenticationRequired
        ("ok", -60.0, "cancelled", "unauthorized"),  # 400 ExpiredToken, no refresh token
        ("503,ok", 3600.0, "done", None),  # transient: retried
    ],
)
def test_each_error_class(
    pipeline: Pipeline, marker: str, lifetime: float, state: str, reason: str | None
) -> None:
    # Given a post meeting this answer first
    account, credential = connect(pipeline, f"did:plc:{marker.replace(',', '')}", lifetime)
    post_id = pipeline.post(account, credential, f"[[fault:{marker}]] class")
    # When a worker publishes it
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    # Then it ends as its class says, created once only if it is done
    assert (post.state, post.cancel_reason) == (state, reason), post.last_error_message
    assert len(records(pipeline, post.text)) == (1 if state == "done" else 0)


def test_a_rate_limit_holds_the_credential_until_its_reset(pipeline: Pipeline) -> None:
    # Given a PDS whose 429 says (RateLimit-Reset) to wait 2 s
    pipeline.sandbox.throttle_seconds = 2
    account, credential = connect(pipeline, "did:plc:limited")
    post_id = pipeline.post(account, credential, "[[fault:429,ok]] limited")
    # When a worker publishes it
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id], timeout=60)[post_id]
    # Then it is done, once, after the credential was held for the reset
    assert post.state == "done", post.last_error_message
    assert len(records(pipeline, post.text)) == 1
    with pipeline.sessions() as session:
        stored = session.get(Credential, credential)
        assert stored is not None and stored.rate_limited_until is not None
    creates = [c for c in pipeline.sandbox.calls if c.path.endswith("createRecord")]
    assert [c.status for c in creates] == [429, 200]
    assert creates[1].at >= stored.rate_limited_until


def test_ambiguous_attempts_are_read_back_never_recreated(pipeline: Pipeline) -> None:
    # Given a PDS that stores each post, then fails the answer, in every way
    account, credential = connect(pipeline, "did:plc:ambiguous")
    posts = {
        pipeline.post(account, credential, f"[[fault:{fault}]] after store"): fault
        for fault in AFTER_STORE
    }
    # When workers retry, each reads its record back by its key first
    pipeline.start_worker(concurrency=4)
    pipeline.start_beat()
    pipeline.wait_final(posts, timeout=120)
    # Then each was created once and is done with the record's URI, found by getRecord
    for post_id, fault in posts.items():
        post = pipeline.get(post_id)
        assert post.state == "done", (fault, post.state, post.last_error_message)
        [record] = records(pipeline, post.text)
        assert (post.external_id or "").split()[0] == record["uri"], fault
        assert "reconciled" in [c.category for c in pipeline.calls(post_id)], fault
    # And no create ever met the key it had already written (the strict PDS's 500)
    creates = [c for c in pipeline.sandbox.calls if c.path.endswith("createRecord")]
    assert len(creates) == len(AFTER_STORE)


def test_lookups_that_cannot_tell_end_in_draft_as_unconfirmed(pipeline: Pipeline) -> None:
    # Given a create the PDS stored but answered 503, and getRecord failing too
    pipeline.sandbox.fail_lookups(None, status=503)
    account, credential = connect(pipeline, "did:plc:unsure")
    post_id = pipeline.post(account, credential, "[[fault:503_after]] unsure")
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    # When the reconcile timeout (4 s here) passes
    post = pipeline.wait_final([post_id], timeout=90)[post_id]
    # Then the post is a draft marked unconfirmed, never re-sent
    assert (post.state, post.last_error_category, post.ambiguous) == ("draft", "unconfirmed", True)
    assert len(records(pipeline, post.text)) == 1
    assert [n.kind for n in pipeline.notifications(post_id)] == ["unconfirmed"]


def test_an_expired_session_is_refreshed_and_the_post_published(pipeline: Pipeline) -> None:
    # Given a credential whose access JWT has expired, with its refresh JWT
    did = "did:plc:refreshed"
    refresh = mint_jwt({"sub": did, "exp": time.time() + 3600, "scope": REFRESH_SCOPE})
    account = pipeline.account()
    credential = pipeline.credential(
        account,
        "bluesky",
        token=session_token(did, lifetime=-60),
        oauth_fields=OAuthFields(refresh_token=refresh),
    )
    post_id = pipeline.post(account, credential, "after a refresh")
    # When a worker publishes it: 400 ExpiredToken, refreshSession, the create again
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    # Then it is done, once, on the same attempt, after one refresh
    assert (post.state, post.attempts) == ("done", 1), post.last_error_message
    assert len(records(pipeline, post.text)) == 1
    refreshes = [c for c in pipeline.sandbox.calls if c.path.endswith("refreshSession")]
    assert [c.status for c in refreshes] == [200]


@pytest.mark.parametrize("password_revoked", [False, True])
def test_a_revoked_refresh_jwt_logs_in_again_once(
    pipeline: Pipeline, password_revoked: bool
) -> None:
    # Given an account connected over HTTP with its handle and app password
    password = "relo-ginp-assw-ord1"
    account = pipeline.account()
    with TestClient(create_app(pipeline.settings, sessions=pipeline.sessions)) as client:
        body = {"provider": "bluesky", "base_url": pipeline.sandbox.url}
        body |= {"identifier": "relogin.test", "token": password}
        created = client.post(f"/v1/accounts/{account}/credentials", json=body)
    assert created.status_code == 201, created.text
    credential = created.json()["id"]
    # And the PDS has since revoked its refresh JWT (and its access JWT has expired)
    with pipeline.sessions.begin() as session:
        row = session.get(Credential, credential)
        assert row is not None and row.refresh_token_encrypted and row.did
        pipeline.sandbox.invalid_tokens.add(pipeline.box.decrypt(row.refresh_token_encrypted))
        row.token_encrypted = pipeline.box.encrypt(session_token(row.did, lifetime=-60))
    if password_revoked:  # the app password deleted at Bluesky as well
        pipeline.sandbox.invalid_tokens.add(password)
    post_id = pipeline.post(account, credential, "after logging in again")
    # When a worker publishes it: ExpiredToken, refreshSession refused, createSession
    pipeline.start_worker(concurrency=1)
    pipeline.start_beat()
    post = pipeline.wait_final([post_id])[post_id]
    calls = [(c.path.rsplit(".", 1)[-1], c.status) for c in pipeline.sandbox.calls]
    logins = [status for path, status in calls if path == "createSession"]
    # Then it logged in once more: published once, or (password gone) cancelled
    if password_revoked:
        assert (post.state, post.cancel_reason) == ("cancelled", "unauthorized")
        assert logins == [200, 401] and not records(pipeline, post.text)
        with pipeline.sessions() as session:
            stored = session.get(Credential, credential)
            assert stored is not None and stored.invalid_since is not None
        return
    assert (post.state, post.attempts) == ("done", 1), (post.last_error_message, calls)
    assert logins == [200, 200] and len(records(pipeline, post.text)) == 1
    assert [s for p, s in calls if p == "refreshSession"] == [401]


def _image(pipeline: Pipeline, account: int, content: bytes, alt: str) -> int:
    store = blobs.from_settings(pipeline.settings)  # the workers' store: same data dir
    with pipeline.sessions.begin() as session:
        return service.create_from_upload(session, store, content, "f.png", alt, account).id


def _images(record: dict[str, Any]) -> list[tuple[str, int]]:
    """Each embedded image's alt text and size, in order."""
    embed = record["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    return [(image["alt"], image["image"]["size"]) for image in embed["images"]]


def test_images_are_uploaded_as_blobs_and_embedded_with_their_alt_texts(
    pipeline: Pipeline,
) -> None:
    # Given a post with two images (one with the post's own alt text), and a thread
    # whose second part has an image
    account, credential = connect(pipeline, "did:plc:images")
    first = _image(pipeline, account, sized(PNG, 3000), "A cat")
    second = _image(pipeline, account, sized(JPEG, 4000), "stored alt")
    media = [{"id": first}, {"id": second, "alt": "A second cat"}]
    single = pipeline.post(account, credential, "two cats", media=media)
    third = _image(pipeline, account, sized(PNG, 5000), "A dog")
    parts = [{"text": "thread with a dog 1/2"}, {"text": "here 2/2", "media": [{"id": third}]}]
    thread = pipeline.post(account, credential, None, parts=parts)
    # When workers publish them
    pipeline.start_worker(concurrency=2)
    pipeline.start_beat()
    posts = pipeline.wait_final([single, thread])
    # Then the post was created once, embedding both blobs with their alt texts
    assert posts[single].state == "done", posts[single].last_error_message
    [record] = records(pipeline, "two cats")
    assert _images(record) == [("A cat", 3000), ("A second cat", 4000)]
    uploads = [c for c in pipeline.sandbox.calls if c.path.endswith("uploadBlob")]
    assert len(uploads) == 3
    # And the thread's second part carries its image and replies to the first
    assert posts[thread].state == "done", posts[thread].last_error_message
    [root] = records(pipeline, "thread with a dog 1/2")
    [reply] = records(pipeline, "here 2/2")
    assert "embed" not in root["value"] and _images(reply) == [("A dog", 5000)]
    assert reply["value"]["reply"]["parent"] == _ref(root)
