"""Bluesky: the derived record key, facets, the createRecord request, thread refs, the
error table (one row per entry), the getRecord lookup and the session refresher."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.engine.backoff import earliest_from_headers
from publisher.engine.exchange import Exchange, json_of
from publisher.errors import LookupFailed, SessionUnreadable
from publisher.providers import get_provider
from publisher.providers.base import (
    Category,
    ErrorRule,
    PreparedCall,
    PublishRequest,
    match_rule,
)
from publisher.providers.bluesky import ERROR_TABLE, BlueskyProvider, post_record
from publisher.providers.bluesky_record import (
    TID_ALPHABET,
    PartRef,
    StrongRef,
    account_did,
    link_facets,
    mention_facets,
    mentioned_handles,
    record_key,
    tid,
)
from publisher.providers.bluesky_session import SESSION, expires_in
from publisher.providers.media_rule import Kind
from publisher.providers.oauth2 import Grant, Refreshed, Rejected, Transient

BLUESKY = BlueskyProvider()
DID = "did:plc:abc123"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def jwt(claims: Mapping[str, Any]) -> str:
    """An unsigned JWT carrying ``claims`` (the provider reads, never verifies, them)."""

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'ES256K'})}.{part(claims)}.c2ln"


TOKEN = jwt({"sub": DID, "iat": 1_000, "exp": 8_200})


def request(text: str = "hello", **changes: Any) -> PublishRequest:
    fields: dict[str, Any] = {
        "base_url": "https://pds.example/",
        "token": TOKEN,
        "text": text,
        "options": {},
        "idempotency_key": "key-1",
    }
    return PublishRequest(**(fields | changes))


# --- the record key ----------------------------------------------------------------------


def test_tid_encodes_as_the_spec_shows() -> None:
    assert tid(0) == "2222222222222"  # https://atproto.com/specs/tid
    assert tid(2**63 - 1) == "b" + "z" * 12  # the top bit is 0: the first digit is 7 at most
    with pytest.raises(ValueError):
        tid(2**63)


def test_record_key_is_a_stable_tid_per_part() -> None:
    key = record_key("key-1")
    assert key == record_key("key-1") != record_key("key-2")
    assert len(key) == 13 and set(key) <= set(TID_ALPHABET) and key[0] in "234567"


def test_record_key_sorts_before_keys_minted_now() -> None:
    now_tid = tid(int(NOW.timestamp() * 1_000_000) << 10)
    assert all(record_key(f"k{i}") < now_tid for i in range(50))


# --- facets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "handles"),
    [
        ("@alice.test hi", ["alice.test"]),  # at the start
        ("hi (@Bob.Example.com).", ["bob.example.com"]),  # in brackets, any case, once
        ("mail me@x.com or @x", []),  # an address, and a name without a domain
        ("@a.test @b.test @a.test", ["a.test", "b.test"]),  # each once, in order
        ("@-bad.test @bad-.test @x.1ab", []),  # a label's ends; the last starts with a letter
    ],
)
def test_mentioned_handles_follow_the_handle_syntax(text: str, handles: list[str]) -> None:
    assert mentioned_handles(text) == handles


def test_mention_facets_count_utf8_bytes_and_skip_unresolved_handles() -> None:
    text = "🦋 @Alice.test and @ghost.test"
    [facet] = mention_facets(text, {"alice.test": "did:plc:alice"})
    span = slice(facet["index"]["byteStart"], facet["index"]["byteEnd"])
    assert text.encode()[span] == b"@Alice.test"
    assert facet["features"] == [
        {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice"}
    ]


def test_a_record_carries_link_and_mention_facets_in_byte_order() -> None:
    text = "see https://example.com/x with @alice.test"
    record = post_record(request(text, mentions={"alice.test": "did:plc:a"}), datetime.now(UTC))
    kinds = [facet["features"][0]["$type"].rsplit("#", 1)[1] for facet in record["facets"]]
    assert kinds == ["link", "mention"]
    provider = BlueskyProvider()
    assert provider.parse_resolved({"did": "did:plc:a"}) == "did:plc:a"
    assert provider.parse_resolved({"did": "alice"}) is None
    assert provider.resolve_url("https://pds.test/", "alice.test") == (
        "https://pds.test/xrpc/com.atproto.identity.resolveHandle?handle=alice.test"
    )


def test_link_facets_count_utf8_bytes() -> None:
    text = "héllo 👋 see https://example.com/a?b=1."
    [facet] = link_facets(text)
    start = facet["index"]["byteStart"]
    end = facet["index"]["byteEnd"]
    assert text.encode()[start:end] == b"https://example.com/a?b=1"
    assert facet["features"] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a?b=1"}
    ]


def test_text_without_links_has_no_facets() -> None:
    assert link_facets("no links here, example.com") == []
    assert "facets" not in post_record(request("plain"), NOW)


# --- the request -------------------------------------------------------------------------


def test_prepare_creates_the_record_under_its_derived_key() -> None:
    call = BLUESKY.prepare(request("hi https://x.example", options={"langs": ["en"], "no": 1}))
    assert call.method == "POST"
    assert call.url == "https://pds.example/xrpc/com.atproto.repo.createRecord"
    assert call.headers == {"Authorization": f"Bearer {TOKEN}"}
    assert call.json["repo"] == DID
    assert call.json["collection"] == "app.bsky.feed.post"
    assert call.json["rkey"] == record_key("key-1")
    record = call.json["record"]
    assert record["$type"] == "app.bsky.feed.post" and record["text"] == "hi https://x.example"
    assert record["langs"] == ["en"] and "no" not in record and "reply" not in record
    assert len(record["facets"]) == 1


def test_prepare_refuses_a_token_naming_no_account() -> None:
    for token in ("an-app-password", jwt({"sub": "alice"}), "a.b@d.c"):
        with pytest.raises(SessionUnreadable):
            BLUESKY.prepare(request(token=token))
    assert account_did(TOKEN) == DID


ROOT = StrongRef(f"at://{DID}/app.bsky.feed.post/3root", "bafyroot")
SECOND = StrongRef(f"at://{DID}/app.bsky.feed.post/3second", "bafysecond")


def test_a_thread_replies_to_its_root_and_parent() -> None:
    # Given the first part published
    first = BLUESKY.parse_success(200, ROOT.as_json(), request())
    assert first is not None and first.external_id == f"{ROOT.uri} {ROOT.cid}"
    assert first.external_url == f"https://bsky.app/profile/{DID}/post/3root"
    # When the second part is prepared and published
    second_request = request("two", reply_to=first.external_id, part=1, parts=3)
    record = BLUESKY.prepare(second_request).json["record"]
    assert record["reply"] == {"root": ROOT.as_json(), "parent": ROOT.as_json()}
    second = BLUESKY.parse_success(200, SECOND.as_json(), second_request)
    assert second is not None
    # Then the third names the root and the second as its parent
    third = BLUESKY.prepare(request("three", reply_to=second.external_id, part=2, parts=3))
    assert third.json["record"]["reply"] == {"root": ROOT.as_json(), "parent": SECOND.as_json()}


@pytest.mark.parametrize(
    "body", [{}, {"uri": "https://nope", "cid": "b"}, {"uri": ROOT.uri, "cid": ""}, [1], "x"]
)
def test_parse_success_needs_a_uri_and_cid(body: Any) -> None:
    assert BLUESKY.parse_success(200, body, request()) is None


def test_part_ref_decodes_only_its_own_encoding() -> None:
    ref = PartRef(ref=SECOND, root=ROOT)
    assert PartRef.decode(ref.encode()) == ref
    assert PartRef.decode("12345") is None
    assert PartRef.decode("https://a b") is None


# --- errors: one row per table entry -----------------------------------------------------


def xrpc(name: str, message: str = "") -> dict[str, str]:
    return {"error": name, "message": message}


BLUESKY_ERRORS: list[tuple[int, Any, Category | None]] = [
    (400, xrpc("ExpiredToken", "Token has expired"), Category.UNAUTHORIZED),
    (400, xrpc("InvalidToken", "Token could not be verified"), Category.UNAUTHORIZED),
    (401, xrpc("AuthenticationRequired", "Invalid identifier or password"), Category.UNAUTHORIZED),
    (400, xrpc("AccountTakedown", "Account has been taken down"), Category.FORBIDDEN),
    (403, xrpc("Forbidden"), Category.FORBIDDEN),
    (500, xrpc("InternalServerError", "Record already exists"), Category.DUPLICATE),
    (400, xrpc("InvalidRequest", "Invalid app.bsky.feed.post record"), Category.FORBIDDEN),
    (413, "Payload Too Large", Category.FORBIDDEN),
    (408, "", Category.UNAVAILABLE),
    (429, xrpc("RateLimitExceeded", "Rate Limit Exceeded"), Category.UNAVAILABLE),
    (500, xrpc("InternalServerError", "Internal Server Error"), Category.UNAVAILABLE),
    (502, "<html>Bad Gateway</html>", Category.UNAVAILABLE),
    (503, "", Category.UNAVAILABLE),
    (504, "", Category.UNAVAILABLE),
    (404, xrpc("XRPCNotSupported"), None),
]


@pytest.mark.parametrize(("status", "body", "expected"), BLUESKY_ERRORS)
def test_error_table(status: int, body: Any, expected: Category | None) -> None:
    assert match_rule(ERROR_TABLE, status, BLUESKY.parse_error(status, body)) == expected


def test_every_table_row_has_a_test_row() -> None:
    covered: set[ErrorRule] = set()
    for status, body, _ in BLUESKY_ERRORS:
        error = BLUESKY.parse_error(status, body)
        first = [rule for rule in ERROR_TABLE if match_rule([rule], status, error)][:1]
        covered.update(first)
    assert covered == set(ERROR_TABLE)


def test_parse_error_names_the_xrpc_error() -> None:
    error = BLUESKY.parse_error(400, xrpc("ExpiredToken", "Token has expired"))
    assert error.codes == ("ExpiredToken",) and error.message == "ExpiredToken: Token has expired"
    assert BLUESKY.parse_error(502, b"bad gateway").message == "bad gateway"
    assert BLUESKY.parse_error(503, None).message == "HTTP 503"


# --- lookup ------------------------------------------------------------------------------


class Answers:
    """A ``get_json`` that records the URLs asked and answers (or raises) in turn."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.urls: list[str] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> Any:
        self.urls.append(url)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_lookup_reads_the_record_by_its_derived_key() -> None:
    answers = Answers(
        {"uri": SECOND.uri, "cid": SECOND.cid, "value": {"reply": {"root": ROOT.as_json()}}}
    )
    found = BLUESKY.lookup(answers, request(idempotency_key="part-2"), NOW)
    assert [p.external_id for p in found] == [PartRef(ref=SECOND, root=ROOT).encode()]
    assert answers.urls == [
        "https://pds.example/xrpc/com.atproto.repo.getRecord?repo=did%3Aplc%3Aabc123"
        f"&collection=app.bsky.feed.post&rkey={record_key('part-2')}"
    ]


def test_lookup_says_not_there_only_on_record_not_found() -> None:
    absent = LookupFailed("HTTP 400", status=400, body=xrpc("RecordNotFound", "Could not"))
    assert BLUESKY.lookup(Answers(absent), request(), NOW) == []
    for failure in (
        LookupFailed("HTTP 400", status=400, body=xrpc("InvalidRequest")),
        LookupFailed("HTTP 500", status=500, body=xrpc("RecordNotFound")),
        LookupFailed("no answer"),
    ):
        with pytest.raises(LookupFailed):
            BLUESKY.lookup(Answers(failure), request(), NOW)
    with pytest.raises(LookupFailed, match="uri and cid"):
        BLUESKY.lookup(Answers({"value": {}}), request(), NOW)


# --- registry, rules ---------------------------------------------------------------------


def test_registered_with_its_rules() -> None:
    provider = get_provider("bluesky")
    assert provider.idempotency_window is None and provider.can_lookup
    assert provider.text_rule.limit == 300 and provider.text_rule.counted == "graphemes"
    assert provider.media_rule.kinds == {Kind.IMAGE} and provider.uploader is not None
    assert provider.media_rule.refusal([Kind.IMAGE] * 4) is None
    assert provider.media_rule.refusal([Kind.IMAGE] * 5) is not None


# --- the session refresher ---------------------------------------------------------------


def test_refresh_sends_the_refresh_jwt_as_bearer() -> None:
    url = "https://pds.example/xrpc/com.atproto.server.refreshSession"
    call = SESSION.prepare(Grant(token_url=url, refresh_token="refresh-jwt"))
    assert (call.method, call.url, call.json, call.data) == ("POST", url, None, None)
    assert call.headers["Authorization"] == "Bearer refresh-jwt"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"accessJwt": TOKEN, "refreshJwt": "r2", "did": DID}, Refreshed(TOKEN, "r2", 7200.0)),
        (200, {"accessJwt": "opaque"}, Refreshed("opaque", None, None)),
        (200, {"refreshJwt": "r2"}, Transient),
        (400, xrpc("ExpiredToken"), Rejected),
        (400, xrpc("InvalidToken"), Rejected),
        (400, xrpc("AccountTakedown"), Rejected),
        (401, xrpc("AuthenticationRequired"), Rejected),
        (400, xrpc("InvalidRequest"), Transient),
        (429, xrpc("RateLimitExceeded"), Transient),
        (502, "bad gateway", Transient),
        (None, None, Transient),
    ],
)
def test_refresh_answers(status: int | None, body: Any, expected: Any) -> None:
    result = SESSION.read(status, body, "timed out")
    if isinstance(expected, type):
        assert isinstance(result, expected)
    else:
        assert result == expected


def test_expires_in_reads_the_access_jwt() -> None:
    assert expires_in(TOKEN) == 7200.0
    assert expires_in(jwt({"exp": 5})) is None
    assert expires_in("not-a-jwt") is None


# --- what the engine gives the provider --------------------------------------------------


def test_a_failed_lookup_carries_the_answer() -> None:
    call = PreparedCall("GET", "https://pds.example/xrpc/com.atproto.repo.getRecord", {})
    body = json.dumps(xrpc("RecordNotFound", "Could not locate record")).encode()
    with pytest.raises(LookupFailed) as caught:
        json_of(Exchange(call=call, sent_body=None, status=400, body=body))
    assert caught.value.details == {
        "status": 400,
        "body": xrpc("RecordNotFound", "Could not locate record"),
    }


def test_rate_limit_reset_is_honoured() -> None:
    reset = NOW + timedelta(minutes=7)
    headers = {"RateLimit-Reset": str(int(reset.timestamp())), "RateLimit-Remaining": "0"}
    assert earliest_from_headers(headers, NOW) == reset
    assert earliest_from_headers({**headers, "RateLimit-Remaining": "3"}, NOW) is None
