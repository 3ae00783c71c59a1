"""The sandbox's Bluesky PDS, through its router (no socket): what the provider sends is
accepted, a key names one record (helpful: the record again; strict: 500), getRecord
finds it or says RecordNotFound, and the refusals speak XRPC."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from publisher.errors import LookupFailed
from publisher.providers.base import Category, PreparedCall, Published, PublishRequest, match_rule
from publisher.providers.bluesky import BlueskyProvider
from publisher.providers.bluesky_record import account_did
from publisher.providers.bluesky_session import SESSION, prepare_create
from publisher.providers.oauth2 import Grant, Refreshed, Rejected
from publisher.sandbox.bluesky import mint_jwt
from publisher.sandbox.faults import FaultPlan
from publisher.sandbox.server import dispatch
from publisher.sandbox.state import State
from publisher.sandbox.wire import Request, Response
from tests.unit.test_bluesky import DID, jwt

BLUESKY = BlueskyProvider()
BASE = "http://pds.test"
TOKEN = jwt({"sub": DID, "iat": time.time(), "exp": time.time() + 3600})


def ask(state: State, call: PreparedCall) -> Response:
    path, _, query = call.url.removeprefix(BASE).partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&") if pair)
    request = Request(
        call.method,
        path,
        {k: unquote(v) for k, v in params.items()},
        {**call.headers, "Content-Type": "application/json"},
        json.dumps(call.json).encode() if call.json is not None else b"",
        BASE,
    )
    return dispatch(state, request)


def publish(state: State, text: str = "hello", **changes: Any) -> tuple[Response, Any]:
    fields: dict[str, Any] = {
        "base_url": BASE,
        "token": TOKEN,
        "text": text,
        "options": {},
        "idempotency_key": "key-1",
    }
    request = PublishRequest(**(fields | changes))
    response = ask(state, BLUESKY.prepare(request))
    return response, json.loads(response.body)


def lookup(state: State, key: str = "key-1") -> list[Published]:
    def get_json(url: str, headers: Any) -> Any:
        response = ask(state, PreparedCall("GET", url, headers))
        body = json.loads(response.body)
        if response.status != 200:
            raise LookupFailed(f"HTTP {response.status}", status=response.status, body=body)
        return body

    request = PublishRequest(BASE, TOKEN, "", {}, key)
    return BLUESKY.lookup(get_json, request, datetime.now(UTC))


@pytest.fixture
def state() -> State:
    return State(faults=FaultPlan())


def test_a_post_is_created_and_read_back(state: State) -> None:
    response, body = publish(state, "see https://example.com ✨")
    assert response.status == 200 and body["uri"].startswith(f"at://{DID}/app.bsky.feed.post/")
    published = BLUESKY.parse_success(200, body)
    assert published is not None
    assert lookup(state) == [published]
    assert lookup(state, "another-key") == []


@pytest.mark.parametrize(("strict", "status"), [(False, 200), (True, 500)])
def test_a_key_names_one_record(state: State, strict: bool, status: int) -> None:
    state.strict = frozenset({"bluesky"} if strict else ())
    first, body = publish(state)
    again, _ = publish(state)
    assert (first.status, again.status) == (200, status)
    assert len(state.ledger.creates) == 1
    assert lookup(state)[0].external_id.startswith(body["uri"])


def test_a_thread_part_replies_with_strong_refs(state: State) -> None:
    _, root = publish(state, "one")
    first = BLUESKY.parse_success(200, root)
    assert first is not None
    response, _ = publish(state, "two", idempotency_key="k2", reply_to=first.external_id, part=1)
    assert response.status == 200
    [second] = lookup(state, "k2")
    assert second.external_id.endswith(f"{root['uri']} {root['cid']}")  # the root rides along


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (jwt({"sub": DID, "exp": time.time() - 1}), Category.UNAUTHORIZED),  # ExpiredToken
        ("no-jwt", Category.UNAUTHORIZED),  # AuthenticationRequired
    ],
    ids=["expired", "unreadable"],
)
def test_a_bad_session_is_refused(state: State, token: str, expected: Category) -> None:
    call = BLUESKY.prepare(PublishRequest(BASE, TOKEN, "hi", {}, "k"))
    headers = {"Authorization": f"Bearer {token}"}
    response = ask(state, PreparedCall(call.method, call.url, headers, call.json))
    error = BLUESKY.parse_error(response.status, json.loads(response.body))
    assert match_rule(BLUESKY.error_table, response.status, error) == expected
    assert state.ledger.creates == []


@pytest.mark.parametrize(
    ("marker", "status", "expected"),
    [
        ("429", 429, Category.UNAVAILABLE),
        ("503", 503, Category.UNAVAILABLE),
        ("403", 403, Category.FORBIDDEN),
        ("422", 400, Category.FORBIDDEN),  # a record the PDS refuses: 400 InvalidRequest
        ("401", 401, Category.UNAUTHORIZED),
    ],
)
def test_faults_speak_xrpc(state: State, marker: str, status: int, expected: Category) -> None:
    response, body = publish(state, f"x [[fault:{marker}]]")
    assert response.status == status and isinstance(body["error"], str)
    error = BLUESKY.parse_error(status, body)
    assert match_rule(BLUESKY.error_table, status, error) == expected
    if status == 429:
        assert int(response.headers["RateLimit-Reset"]) > time.time()
        assert response.headers["RateLimit-Remaining"] == "0"


def test_the_pds_refuses_what_the_lexicon_refuses(state: State) -> None:
    response, body = publish(state, "é" * 301)
    assert response.status == 400 and body["error"] == "InvalidRequest"
    assert "300 graphemes" in body["message"]


@pytest.mark.parametrize(
    "fault", ["reset_after", "502_after", "503_after", "504_after", "malformed"]
)
def test_an_ambiguous_answer_hides_a_record_that_exists_once(state: State, fault: str) -> None:
    # Given a create whose answer a fault hides after the store
    state.strict = frozenset({"bluesky"})
    call = BLUESKY.prepare(PublishRequest(BASE, TOKEN, f"x [[fault:{fault}]]", {}, "k"))
    hidden = ask(state, call)
    assert hidden.reset or hidden.status >= 500 or hidden.body == b"{not json"
    # Then the record exists once, getRecord finds it, and a re-create makes no second one
    [published] = lookup(state, "k")
    assert published.external_id.startswith(state.ledger.creates[0].payload["uri"])
    assert ask(state, call).status == 500
    assert len(state.ledger.creates) == 1


def test_a_create_without_a_key_gets_a_fresh_tid(state: State) -> None:
    call = BLUESKY.prepare(PublishRequest(BASE, TOKEN, "hi", {}, "k"))
    body = {key: value for key, value in call.json.items() if key != "rkey"}
    for _ in range(2):
        answer = ask(state, PreparedCall(call.method, call.url, call.headers, body))
        assert answer.status == 200
    keys = {created.idempotency_key for created in state.ledger.creates}
    assert len(keys) == 2 and all(key and len(key) == 13 for key in keys)


def test_a_session_refreshes_once_per_refresh_jwt(state: State) -> None:
    # Given a refresh JWT the PDS issued
    refresh = mint_jwt({"sub": DID, "exp": time.time() + 60, "scope": "com.atproto.refresh"})
    grant = Grant(token_url=f"{BASE}/xrpc/com.atproto.server.refreshSession", refresh_token=refresh)
    # When the refresher spends it
    answer = ask(state, SESSION.prepare(grant))
    result = SESSION.read(answer.status, json.loads(answer.body))
    # Then a new session for the same account comes back, good for a create
    assert isinstance(result, Refreshed) and result.expires_in == 7200
    assert account_did(result.access_token) == DID and result.refresh_token not in (None, refresh)
    created = ask(state, BLUESKY.prepare(PublishRequest(BASE, result.access_token, "hi", {}, "k")))
    assert created.status == 200
    # And the spent refresh JWT, or an access JWT, refreshes nothing
    for token in (refresh, result.access_token):
        again = ask(state, SESSION.prepare(Grant(grant.token_url, token)))
        assert isinstance(SESSION.read(again.status, json.loads(again.body)), Rejected)


def test_an_app_password_opens_a_session(state: State) -> None:
    # Given an account's handle and app password
    call = prepare_create(BASE, "alice.test", "app-pass")
    assert call.json == {"identifier": "alice.test", "password": "app-pass"}
    # When the PDS opens a session: an access JWT for the account's DID, and a refresh JWT
    result = SESSION.read((answer := ask(state, call)).status, json.loads(answer.body))
    assert isinstance(result, Refreshed) and result.refresh_token is not None
    assert account_did(result.access_token).startswith("did:plc:")
    # And a wrong app password is refused for good
    state.invalid_tokens.add("app-pass")
    refused = ask(state, call)
    assert refused.status == 401
    assert isinstance(SESSION.read(refused.status, json.loads(refused.body)), Rejected)
