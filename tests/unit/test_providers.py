"""Providers: the request each one prepares, how it reads answers, its error table, and
its reconciliation lookup against a real local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from publisher.errors import InvalidInput, LookupFailed
from publisher.providers import PROVIDERS, get_provider
from publisher.providers.base import (
    Category,
    ErrorRule,
    GetJson,
    Provider,
    ProviderError,
    Published,
    PublishRequest,
    match_rule,
)
from publisher.providers.mastodon import LOOKUP_LIMIT as MASTODON_PAGE
from publisher.providers.mastodon import LOOKUP_PAGES as MASTODON_PAGES
from publisher.providers.mastodon import MastodonProvider, html_to_text
from publisher.providers.signing import sign, verify
from publisher.providers.webhook import SIGNATURE_HEADER, WebhookProvider, encode_body
from publisher.providers.x import LOOKUP_PAGES, XProvider
from publisher.sandbox import Sandbox

MASTODON = MastodonProvider()
WEBHOOK = WebhookProvider()
X = XProvider()

SINCE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TIMEOUT = (2.0, 5.0)


def publish_request(
    base_url: str = "https://social.example/",
    text: str = "Hello & welcome",
    options: Mapping[str, Any] | None = None,
) -> PublishRequest:
    return PublishRequest(
        base_url=base_url,
        token="tok-123",
        text=text,
        options=options or {},
        idempotency_key="post-42-attempt",
    )


# --- a tiny real HTTP server -------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    """Answers ``routes[path]`` (path includes the query) with (status, JSON body)."""

    url: str
    routes: dict[str, tuple[int, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    api: FakeApi

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.api.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
        status, payload = self.api.routes.get(self.path, (404, {"error": "Record not found"}))
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi(url="")
    handler = type("Handler", (_Handler,), {"api": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def get_json(session: requests.Session) -> GetJson:
    """A ``GetJson`` over ``session``, failing as the engine's does."""

    def fetch(url: str, headers: Mapping[str, str]) -> Any:
        response = session.get(url, headers=headers, timeout=TIMEOUT)
        if not response.ok:
            raise LookupFailed(f"HTTP {response.status_code}")
        return response.json()

    return fetch


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


class FakeGetJson:
    """A ``GetJson`` answering from ``pages`` (by URL), recording each URL asked."""

    def __init__(self, pages: Mapping[str, Any]) -> None:
        self.pages = pages
        self.urls: list[str] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> Any:
        self.urls.append(url)
        if url not in self.pages:
            raise LookupFailed(f"HTTP 404 for {url}")
        return self.pages[url]


# --- registry ----------------------------------------------------------------------------


def test_registry_holds_every_provider() -> None:
    assert sorted(PROVIDERS) == [
        "bluesky",
        "discord",
        "facebook",
        "linkedin",
        "mastodon",
        "telegram",
        "threads",
        "webhook",
        "x",
    ]
    for name, provider in PROVIDERS.items():
        assert provider.name == name
        assert get_provider(name) is provider


def test_unknown_provider_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        get_provider("foo")
    assert caught.value.field == "provider"
    known = ", ".join(sorted(PROVIDERS))
    assert caught.value.message == f"unknown provider 'foo'; expected one of: {known}"


# Each network measures text its own way (tests/unit/test_x_length.py, test_text_rules.py).
TEXT_RULES = [
    # (provider, limit, text, its length as that network counts it)
    (MASTODON, 500, "see https://example.com/" + "a" * 100 + " @ann@example.social", 32),
    (WEBHOOK, 100_000, "see https://example.com/" + "a" * 100 + " 👨‍👩‍👧‍👦", 132),
    (X, 280, "see https://example.com/" + "a" * 100 + " 日本 👨‍👩‍👧‍👦", 35),
]


@pytest.mark.parametrize(("provider", "limit", "text", "length"), TEXT_RULES)
def test_text_rules(provider: Provider, limit: int, text: str, length: int) -> None:
    assert provider.text_rule.limit == limit
    assert provider.text_rule.measure(text, {}) == length


# --- error tables ------------------------------------------------------------------------

MASTODON_ERRORS = [
    (401, {"error": "The access token is invalid"}, Category.UNAUTHORIZED),
    (401, {"error": "The access token expired"}, Category.UNAUTHORIZED),
    (403, {"error": "Your login is currently disabled"}, Category.FORBIDDEN),
    (410, {"error": "Gone"}, Category.FORBIDDEN),
    (422, {"error": "Validation failed: Text character limit of 500 exceeded"}, Category.FORBIDDEN),
    (413, "<html>413 Request Entity Too Large</html>", Category.FORBIDDEN),  # a media upload
    (415, {"error": "File type not supported"}, Category.FORBIDDEN),
    (408, "Request Timeout", Category.UNAVAILABLE),
    (425, {"error": "Too Early"}, Category.UNAVAILABLE),
    (429, {"error": "Too many requests"}, Category.UNAVAILABLE),
    (500, {"error": "We're sorry, but something went wrong"}, Category.UNAVAILABLE),
    (502, "<html>Bad Gateway</html>", Category.UNAVAILABLE),
    (503, None, Category.UNAVAILABLE),
    (504, "", Category.UNAVAILABLE),
    (404, {"error": "Record not found"}, None),
    (400, {"error": "Bad request"}, None),
    (501, "Not Implemented", None),
]

WEBHOOK_ERRORS = [
    (401, {"error": "bad token"}, Category.UNAUTHORIZED),
    (403, {"message": "nope"}, Category.FORBIDDEN),
    (404, "Not Found", Category.FORBIDDEN),
    (410, None, Category.FORBIDDEN),
    (422, {"detail": "text is required"}, Category.FORBIDDEN),
    (409, {"error": "already have this key"}, Category.DUPLICATE),
    (408, None, Category.UNAVAILABLE),
    (425, None, Category.UNAVAILABLE),
    (429, None, Category.UNAVAILABLE),
    (500, None, Category.UNAVAILABLE),
    (502, None, Category.UNAVAILABLE),
    (503, None, Category.UNAVAILABLE),
    (504, None, Category.UNAVAILABLE),
    (400, {"error": "bad"}, None),
    (418, "teapot", None),
]


def classic(code: int, message: str = "something") -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


X_ERRORS = [
    (401, classic(32, "Could not authenticate you."), Category.UNAUTHORIZED),
    (401, classic(89, "Invalid or expired token."), Category.UNAUTHORIZED),
    (403, classic(64, "Your account is suspended"), Category.FORBIDDEN),
    (403, classic(226, "This request looks like it might be automated."), Category.FORBIDDEN),
    (403, classic(261, "Application cannot perform write actions."), Category.FORBIDDEN),
    (
        403,
        classic(326, "To protect our users from spam, your account is locked"),
        Category.FORBIDDEN,
    ),
    (403, classic(187, "Status is a duplicate."), Category.DUPLICATE),
    (429, classic(88, "Rate limit exceeded"), Category.UNAVAILABLE),
    (503, classic(130, "Over capacity"), Category.UNAVAILABLE),
    (500, classic(131, "Internal error"), Category.UNAVAILABLE),
    (403, classic(185, "User is over daily status update limit."), Category.UNAVAILABLE),
    # a code wins over the status it arrives with
    (400, classic(187), Category.DUPLICATE),
    (
        403,
        {
            "title": "Forbidden",
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "status": 403,
        },
        Category.DUPLICATE,
    ),
    (
        401,
        {"title": "Unauthorized", "detail": "Unauthorized", "status": 401},
        Category.UNAUTHORIZED,
    ),
    (403, {"title": "Forbidden", "detail": "You are not permitted"}, Category.FORBIDDEN),
    (422, {"title": "Unprocessable Entity"}, Category.FORBIDDEN),
    (429, {"title": "Too Many Requests", "detail": "Too Many Requests"}, Category.UNAVAILABLE),
    (500, None, Category.UNAVAILABLE),
    (502, "Bad Gateway", Category.UNAVAILABLE),
    (503, {"title": "Service Unavailable"}, Category.UNAVAILABLE),
    (504, "", Category.UNAVAILABLE),
    (400, {"title": "Invalid Request", "detail": "One or more parameters were invalid."}, None),
    (404, {"title": "Not Found Error"}, None),
    (400, classic(999), None),
    (413, {"title": "Payload Too Large", "detail": "media too large"}, Category.FORBIDDEN),
    (415, {"title": "Unsupported Media Type", "detail": "bad type"}, Category.FORBIDDEN),
]


@pytest.mark.parametrize(
    ("provider", "status", "body", "expected"),
    [(MASTODON, *row) for row in MASTODON_ERRORS]
    + [(WEBHOOK, *row) for row in WEBHOOK_ERRORS]
    + [(X, *row) for row in X_ERRORS],
)
def test_error_table(provider: Provider, status: int, body: Any, expected: Category | None) -> None:
    error = provider.parse_error(status, body)
    assert match_rule(provider.error_table, status, error) == expected


def _rule_keys(table: Any) -> set[tuple[int | None, int | str | None]]:
    return {(rule.status, rule.code) for rule in table}


@pytest.mark.parametrize(
    ("provider", "rows"), [(MASTODON, MASTODON_ERRORS), (WEBHOOK, WEBHOOK_ERRORS), (X, X_ERRORS)]
)
def test_every_table_row_has_a_test_row(provider: Provider, rows: list[Any]) -> None:
    tested: set[int | str] = set()
    for status, body, _ in rows:
        error = provider.parse_error(status, body)
        tested.add(status)
        tested.update(error.codes)
    for rule in provider.error_table:
        assert (rule.code if rule.code is not None else rule.status) in tested, rule


def test_x_code_rules_come_before_status_rules() -> None:
    kinds = ["code" if rule.code is not None else "other" for rule in X.error_table]
    assert kinds == sorted(kinds)  # "code" < "other"
    assert all(isinstance(rule, ErrorRule) for rule in X.error_table)


# --- parse_error -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "status", "body", "expected"),
    [
        (
            MASTODON,
            401,
            {"error": "The access token is invalid"},
            ProviderError("The access token is invalid"),
        ),
        (
            MASTODON,
            400,
            {"error": "invalid_grant", "error_description": "The grant is invalid"},
            ProviderError("invalid_grant: The grant is invalid"),
        ),
        (MASTODON, 502, "  <html>Bad Gateway</html>\n", ProviderError("<html>Bad Gateway</html>")),
        (MASTODON, 502, b"Bad Gateway", ProviderError("Bad Gateway")),
        (MASTODON, 503, None, ProviderError("HTTP 503")),
        (MASTODON, 503, {"unexpected": 1}, ProviderError("HTTP 503")),
        (MASTODON, 503, "x" * 5000, ProviderError("x" * 500)),
        (
            X,
            403,
            {
                "errors": [
                    {"code": 187, "message": "Status is a duplicate."},
                    {"code": 88, "message": "Rate"},
                ]
            },
            ProviderError("Status is a duplicate.; Rate", (187, 88)),
        ),
        (
            X,
            403,
            {
                "title": "Forbidden",
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "status": 403,
            },
            ProviderError(
                "Forbidden; You are not allowed to create a Tweet with duplicate content."
            ),
        ),
        (
            X,
            429,
            {
                "title": "UsageCapExceeded",
                "type": "https://api.twitter.com/2/problems/usage-capped",
            },
            ProviderError("UsageCapExceeded", ("https://api.twitter.com/2/problems/usage-capped",)),
        ),
        (
            X,
            400,
            {
                "title": "Invalid Request",
                "errors": [{"message": "text too long", "parameters": {}}, "junk", {"code": True}],
            },
            ProviderError("Invalid Request; text too long"),
        ),
        (X, 500, "Internal Server Error", ProviderError("Internal Server Error")),
        (X, 500, None, ProviderError("HTTP 500")),
        (
            WEBHOOK,
            422,
            {"error": "text is required", "code": "missing_text"},
            ProviderError("text is required", ("missing_text",)),
        ),
        (WEBHOOK, 422, {"error": "", "message": "fallback"}, ProviderError("fallback")),
        (WEBHOOK, 500, "oops", ProviderError("oops")),
        (WEBHOOK, 500, [1, 2], ProviderError("HTTP 500")),
    ],
)
def test_parse_error(provider: Provider, status: int, body: Any, expected: ProviderError) -> None:
    found = provider.parse_error(status, body)
    assert (found.message, tuple(found.codes)) == (expected.message, tuple(expected.codes))


# --- Mastodon ----------------------------------------------------------------------------


def test_mastodon_prepare() -> None:
    options = {
        "visibility": "unlisted",
        "spoiler_text": "cw",
        "language": "en",
        "sensitive": True,
        "in_reply_to_id": "109",
        "media_ids": ["1", "2"],
        "poll": {"options": ["a", "b"], "expires_in": 3600},
        "unknown": "ignored",
        "scheduled_at": "2030-01-01T00:00:00Z",
    }
    call = MASTODON.prepare(publish_request(options=options))
    assert (call.method, call.url) == ("POST", "https://social.example/api/v1/statuses")
    assert call.headers == {"Authorization": "Bearer tok-123", "Idempotency-Key": "post-42-attempt"}
    assert call.data is None
    assert call.json == {
        "status": "Hello & welcome",
        "visibility": "unlisted",
        "spoiler_text": "cw",
        "language": "en",
        "sensitive": True,
        "in_reply_to_id": "109",
        "media_ids": ["1", "2"],
        "poll": {"options": ["a", "b"], "expires_in": 3600},
    }


def test_mastodon_prepare_without_options() -> None:
    call = MASTODON.prepare(publish_request(options={"visibility": None}))
    assert call.json == {"status": "Hello & welcome"}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            200,
            {
                "id": "1101",
                "url": "https://social.example/@me/1101",
                "uri": "https://social.example/users/me/statuses/1101",
            },
            Published("1101", "https://social.example/@me/1101"),
        ),
        (
            200,
            {"id": "1101", "url": None, "uri": "https://social.example/users/me/statuses/1101"},
            Published("1101", "https://social.example/users/me/statuses/1101"),
        ),
        (200, {"id": 7}, Published("7", None)),
        (200, {"url": "https://social.example/@me/1"}, None),
        (200, "not json", None),
        (500, {"id": "1"}, None),
    ],
)
def test_mastodon_parse_success(status: int, body: Any, expected: Published | None) -> None:
    assert MASTODON.parse_success(status, body) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<p>Hello &amp; welcome</p>", "Hello & welcome"),
        ("<p>one</p><p>two<br />three</p>", "one\n\ntwo\nthree"),
        (
            '<p><a href="https://example.com/a/very/long/path" rel="nofollow noopener">'
            '<span class="invisible">https://</span><span class="ellipsis">example.com/a/very/'
            '</span><span class="invisible">long/path</span></a></p>',
            "https://example.com/a/very/long/path",
        ),
        ("&lt;b&gt; &quot;quoted&quot; &#39;x&#39;", "<b> \"quoted\" 'x'"),
    ],
)
def test_html_to_text(content: str, expected: str) -> None:
    assert html_to_text(content) == expected


def _status(status_id: str, content: str, created_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": status_id,
        "content": content,
        "created_at": created_at,
        "url": f"https://social.example/@me/{status_id}",
        "uri": f"https://social.example/users/me/statuses/{status_id}",
        **extra,
    }


MASTODON_TIMELINE = "/api/v1/accounts/77/statuses?limit=40"
_NOON = "2024-05-01T12:00:00.000Z"


def _linked(url: str) -> str:
    """Mastodon's rendering of "see <url>"."""
    scheme, rest = url.split("//", 1)
    return (
        f'<p>see <a href="{url}" rel="nofollow noopener" target="_blank">'
        f'<span class="invisible">{scheme}//</span><span class="">{rest}</span>'
        '<span class="invisible"></span></a></p>'
    )


@pytest.mark.parametrize(
    ("text", "statuses", "expected_id"),
    [
        # listed newest first; every match is a candidate, oldest first
        (
            "Hello & welcome\n\nsecond  paragraph",
            [
                _status("3", "<p>other</p>", "2024-05-01T12:01:00.000Z"),
                _status(
                    "2",
                    "<p>Hello &amp; welcome</p><p>second paragraph</p>",
                    "2024-05-01T12:00:30.000Z",
                ),
                _status(
                    "1",
                    "<p>Hello &amp; welcome</p><p>second paragraph</p>",
                    "2024-05-01T11:58:00.000Z",
                ),
            ],
            "1,2",
        ),
        # created a little before "since" (clock skew) still counts
        ("Hi", [_status("5", "<p>Hi</p>", "2024-05-01T11:56:00.000Z")], "5"),
        # too old: an earlier post with the same text
        ("Hi", [_status("5", "<p>Hi</p>", "2024-05-01T11:54:59.000Z")], None),
        ("Hi", [_status("5", "<p>Hi</p>", "garbage")], None),
        ("Hi", [_status("5", "<p>Hey</p>", "2024-05-01T12:00:00.000Z")], None),
        # a source "text" field matches exactly
        (
            "Hi *md*",
            [_status("6", "<p>Hi <em>md</em></p>", "2024-05-01T12:00:00Z", text="Hi *md*")],
            "6",
        ),
        # a remote mention renders without its domain
        (
            "cc @bob@other.social and me@mail.example",
            [
                _status(
                    "8",
                    '<p>cc <span class="h-card"><a href="https://other.social/@bob" '
                    'class="u-url mention">@<span>bob</span></a></span> and me@mail.example</p>',
                    "2024-05-01T12:00:00.000Z",
                )
            ],
            "8",
        ),
        # a link: its hidden spans spell it out, so one that differs is another post
        ("see https://a.example/x", [_status("9", _linked("https://a.example/x"), _NOON)], "9"),
        ("see https://a.example/x", [_status("9", _linked("https://a.example/y"), _NOON)], None),
        ("Hi", [], None),
        ("Hi", ["junk", {"id": "9"}], None),
    ],
)
def test_mastodon_lookup(
    api: FakeApi,
    session: requests.Session,
    text: str,
    statuses: list[Any],
    expected_id: str | None,
) -> None:
    api.routes["/api/v1/accounts/verify_credentials"] = (200, {"id": "77", "username": "me"})
    api.routes[MASTODON_TIMELINE] = (200, statuses)
    found = MASTODON.lookup(get_json(session), publish_request(api.url + "/", text=text), SINCE)
    ids = expected_id.split(",") if expected_id else []
    assert found == [Published(i, f"https://social.example/@me/{i}") for i in ids]
    assert [seen.path for seen in api.seen] == [
        "/api/v1/accounts/verify_credentials",
        MASTODON_TIMELINE,
    ]
    assert all(seen.headers["Authorization"] == "Bearer tok-123" for seen in api.seen)


def test_mastodon_lookup_raises_on_an_http_error(api: FakeApi, session: requests.Session) -> None:
    api.routes["/api/v1/accounts/verify_credentials"] = (
        401,
        {"error": "The access token is invalid"},
    )
    with pytest.raises(LookupFailed):
        MASTODON.lookup(get_json(session), publish_request(api.url), SINCE)


M_ROOT = "https://social.example"
M_FIRST = f"{M_ROOT}{MASTODON_TIMELINE}"


def toots(
    first: int, count: int, text: str = "other", at: str = "2024-05-01T12:00:30Z"
) -> list[Any]:
    """``count`` statuses, newest first, ids counting down from ``first``."""
    return [_status(str(first - n), f"<p>{text}</p>", at) for n in range(count)]


def mastodon_pages(*pages: list[Any]) -> FakeGetJson:
    """``pages`` in order: the first at ``M_FIRST``, each next at the previous page's
    oldest id as ``max_id``."""
    served: dict[str, Any] = {f"{M_ROOT}/api/v1/accounts/verify_credentials": {"id": "77"}}
    url = M_FIRST
    for page in pages:
        served[url] = page
        url = f"{M_FIRST}&max_id={page[-1].get('id') if page else None}"
    return FakeGetJson(served)


def test_mastodon_lookup_pages_back_and_returns_every_match_oldest_first() -> None:
    first = toots(1000, MASTODON_PAGE)
    first[3] = _status("997", "<p>Hi</p>", "2024-05-01T12:00:40Z")
    second = [*toots(900, 3), _status("800", "<p>Hi</p>", "2024-05-01T12:00:01Z")]
    fake = mastodon_pages(first, second)

    found = MASTODON.lookup(fake, publish_request(M_ROOT, text="Hi"), SINCE)

    assert [p.external_id for p in found] == ["800", "997"]
    assert fake.urls[1:] == [M_FIRST, f"{M_FIRST}&max_id={1000 - MASTODON_PAGE + 1}"]


def test_mastodon_lookup_stops_at_statuses_older_than_the_window() -> None:
    page = [
        *toots(1000, MASTODON_PAGE - 1, "Hi"),
        _status("1", "<p>Hi</p>", "2024-05-01T11:00:00Z"),
    ]
    fake = mastodon_pages(page)

    found = MASTODON.lookup(fake, publish_request(M_ROOT, text="Hi"), SINCE)

    assert len(found) == MASTODON_PAGE - 1
    assert found[0].external_id == str(1000 - MASTODON_PAGE + 2)  # oldest first
    assert fake.urls[1:] == [M_FIRST]


def test_mastodon_lookup_cannot_tell_past_its_page_bound() -> None:
    fake = mastodon_pages(*[toots(10_000 - 100 * n, MASTODON_PAGE) for n in range(6)])

    with pytest.raises(LookupFailed, match="pages"):
        MASTODON.lookup(fake, publish_request(M_ROOT, text="Hi"), SINCE)
    assert len(fake.urls) == 1 + MASTODON_PAGES


def test_mastodon_lookup_cannot_page_back_without_an_id() -> None:
    page: list[Any] = [*toots(1000, MASTODON_PAGE - 1), {"content": "<p>x</p>"}]

    with pytest.raises(LookupFailed, match="id"):
        MASTODON.lookup(mastodon_pages(page), publish_request(M_ROOT, text="Hi"), SINCE)


def test_mastodon_lookup_finds_every_copy_in_the_strict_sandbox(session: requests.Session) -> None:
    text = "Hello & <welcome> @bob@other.social"
    auth = {"Authorization": "Bearer tok-123"}
    with Sandbox(strict=["mastodon"]) as sandbox:

        def create(words: str) -> str:
            url = f"{sandbox.url}/api/v1/statuses"
            headers = {**auth, "Idempotency-Key": "same-key"}
            answer = session.post(url, json={"status": words}, headers=headers, timeout=TIMEOUT)
            return str(answer.json()["id"])

        since = datetime.now(UTC)
        ids = [create(text), create(text)]
        for n in range(50):  # newer statuses push ours onto the second page
            create(f"other {n}")

        found = MASTODON.lookup(get_json(session), publish_request(sandbox.url, text=text), since)

    assert [p.external_id for p in found] == ids


# --- X -----------------------------------------------------------------------------------


def test_x_prepare() -> None:
    options = {
        "reply": {"in_reply_to_tweet_id": "1"},
        "quote_tweet_id": "2",
        "media": {"media_ids": ["3"]},
        "poll": {"options": ["a", "b"], "duration_minutes": 60},
        "reply_settings": "following",
        "visibility": "ignored",
    }
    call = X.prepare(publish_request(base_url="https://api.x.com", options=options))
    assert (call.method, call.url) == ("POST", "https://api.x.com/2/tweets")
    assert call.headers == {"Authorization": "Bearer tok-123"}  # no idempotency key
    assert call.json == {
        "text": "Hello & welcome",
        "reply": {"in_reply_to_tweet_id": "1"},
        "quote_tweet_id": "2",
        "media": {"media_ids": ["3"]},
        "poll": {"options": ["a", "b"], "duration_minutes": 60},
        "reply_settings": "following",
    }


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            201,
            {"data": {"id": "1445880548472328192", "text": "Hello"}},
            Published("1445880548472328192", "https://x.com/i/web/status/1445880548472328192"),
        ),
        (201, {"data": {"text": "Hello"}}, None),
        (201, {"errors": []}, None),
        (201, None, None),
        (403, {"data": {"id": "1"}}, None),
    ],
)
def test_x_parse_success(status: int, body: Any, expected: Published | None) -> None:
    assert X.parse_success(status, body) == expected


X_TIMELINE = (
    "/2/users/99/tweets?max_results=100&tweet.fields=created_at,entities"
    "&start_time=2024-05-01T11:55:00Z"
)


def link(url: str, expanded: str, start: int = 0, **extra: Any) -> dict[str, Any]:
    """An ``entities.urls`` item (offsets are not read by the lookup)."""
    end = start + len(url)
    return {"start": start, "end": end, "url": url, "expanded_url": expanded, **extra}


def post(post_id: str, text: str, *urls: dict[str, Any], **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"id": post_id, "text": text, "created_at": "2024-05-01T12:00:01Z"}
    if urls:
        found["entities"] = {"urls": list(urls)}
    return {**found, **extra}


TCO = "https://t.co/AbCdEfGhIj"
TCO2 = "https://t.co/ZyXwVuTsRq"


@pytest.mark.parametrize(
    ("text", "timeline", "expected_id"),
    [
        # HTML entities unescaped
        (
            "Hello & welcome",
            {
                "data": [
                    {"id": "30", "text": "Other", "created_at": "2024-05-01T12:02:00.000Z"},
                    {
                        "id": "20",
                        "text": "Hello &amp; welcome",
                        "created_at": "2024-05-01T12:00:01.000Z",
                    },
                ]
            },
            "20",
        ),
        ("a <b> & c", {"data": [post("25", "a &lt;b&gt; &amp; c")]}, "25"),
        # a text that is literally an entity is told apart from the character it names
        ("a &amp; b", {"data": [post("26", "a &amp; b")]}, None),
        ("a &amp; b", {"data": [post("27", "a &amp;amp; b")]}, "27"),
        ("Hi", {"data": [{"id": "21", "text": "Hi"}]}, "21"),  # no created_at: text alone
        ("Hi", {"data": [{"id": "22", "text": "Hi", "created_at": "2024-05-01T11:56:00Z"}]}, "22"),
        ("Hi", {"data": [{"id": "23", "text": "Hi", "created_at": "2024-05-01T11:50:00Z"}]}, None),
        ("Hi", {"data": [{"id": "24", "text": "Hi ", "created_at": "2024-05-01T12:00:00Z"}]}, None),
        ("Hi", {"meta": {"result_count": 0}}, None),
        ("Hi", {"data": ["junk", {"id": "9"}, {"id": "10", "text": None}]}, None),
        # t.co links expanded back through the entities
        (
            "Read https://example.com/a?b=1&c=2 now & then",
            {
                "data": [
                    post(
                        "40",
                        f"Read {TCO} now &amp; then",
                        link(TCO, "https://example.com/a?b=1&c=2", 5),
                    )
                ]
            },
            "40",
        ),
        (
            "two: https://a.example/1 and https://a.example/1, https://b.example",
            {
                "data": [
                    post(
                        "41",
                        f"two: {TCO} and {TCO}, {TCO2}",
                        link(TCO, "https://a.example/1", 5),
                        link(TCO, "https://a.example/1", 33),
                        link(TCO2, "https://b.example", 58),
                    )
                ]
            },
            "41",
        ),
        # a text that differs only by its link is another post
        (
            "Read https://example.com/a",
            {"data": [post("42", f"Read {TCO}", link(TCO, "https://example.com/b", 5))]},
            None,
        ),
        # without entities a t.co link cannot be told from ours
        ("Read https://example.com/a", {"data": [post("43", f"Read {TCO}")]}, None),
        # a link X appended for attached media was never in our text
        (
            "Look",
            {
                "data": [
                    post(
                        "44",
                        f"Look {TCO}",
                        link(TCO, "https://x.com/u/status/44/photo/1", 5, media_key="3_1"),
                    )
                ]
            },
            "44",
        ),
        # every candidate, oldest first
        (
            "Same",
            {"data": [post("52", "Same"), post("51", "Other"), post("50", "Same")]},
            "50,52",
        ),
    ],
)
def test_x_lookup(
    api: FakeApi,
    session: requests.Session,
    text: str,
    timeline: dict[str, Any],
    expected_id: str | None,
) -> None:
    api.routes["/2/users/me"] = (200, {"data": {"id": "99", "username": "me"}})
    api.routes[X_TIMELINE] = (200, timeline)
    found = X.lookup(get_json(session), publish_request(api.url, text=text), SINCE)
    ids = expected_id.split(",") if expected_id else []
    expected = [Published(i, f"https://x.com/i/web/status/{i}") for i in ids]
    assert found == expected
    assert [seen.path for seen in api.seen] == ["/2/users/me", X_TIMELINE]
    assert all(seen.headers["Authorization"] == "Bearer tok-123" for seen in api.seen)


X_ROOT = "https://api.x.example"
X_FIRST = f"{X_ROOT}{X_TIMELINE}"


def x_pages(*pages: dict[str, Any]) -> FakeGetJson:
    """``pages`` served in order: the first at ``X_FIRST``, each next one at the
    pagination_token the previous one names."""
    served: dict[str, Any] = {f"{X_ROOT}/2/users/me": {"data": {"id": "99"}}}
    url = X_FIRST
    for number, page in enumerate(pages):
        served[url] = page
        url = f"{X_FIRST}&pagination_token=tok%2F{number + 1}"
    return FakeGetJson(served)


def with_token(page: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        **page,
        "meta": {"result_count": len(page.get("data", [])), "next_token": f"tok/{number}"},
    }


def test_x_lookup_follows_pagination_and_returns_oldest_first() -> None:
    fake = x_pages(
        with_token({"data": [post("9", "Same"), post("8", "Other")]}, 1),
        with_token({"data": [post("7", "Same"), post("6", "Same")]}, 2),
        {"data": [post("5", "Other")], "meta": {"result_count": 1}},
    )

    found = X.lookup(fake, publish_request(X_ROOT, text="Same"), SINCE)

    assert [p.external_id for p in found] == ["6", "7", "9"]
    assert fake.urls[1:] == [
        X_FIRST,
        f"{X_FIRST}&pagination_token=tok%2F1",
        f"{X_FIRST}&pagination_token=tok%2F2",
    ]


def test_x_lookup_stops_at_a_page_older_than_the_window() -> None:
    old = post("4", "Same", created_at="2024-05-01T11:00:00Z")
    fake = x_pages(with_token({"data": [post("9", "Same"), old]}, 1))

    found = X.lookup(fake, publish_request(X_ROOT, text="Same"), SINCE)

    assert [p.external_id for p in found] == ["9"]
    assert fake.urls[1:] == [X_FIRST]  # the next page is not read


def test_x_lookup_cannot_tell_past_its_page_bound() -> None:
    fake = x_pages(*[with_token({"data": [post(str(n), "Other")]}, n + 1) for n in range(6)])

    with pytest.raises(LookupFailed, match="pages"):
        X.lookup(fake, publish_request(X_ROOT, text="Same"), SINCE)
    assert len(fake.urls) == 1 + LOOKUP_PAGES


@pytest.mark.parametrize(
    "timeline", [[], "oops", {"data": {"id": "1"}}, {"data": "none"}], ids=repr
)
def test_x_lookup_refuses_a_timeline_of_the_wrong_shape(timeline: Any) -> None:
    fake = FakeGetJson({f"{X_ROOT}/2/users/me": {"data": {"id": "99"}}, X_FIRST: timeline})

    with pytest.raises(LookupFailed):
        X.lookup(fake, publish_request(X_ROOT, text="Same"), SINCE)


def test_x_lookup_finds_every_copy_of_a_link_post_in_the_strict_sandbox(
    session: requests.Session,
) -> None:
    text = "Tom & Jerry <3 https://example.com/a?b=1&c=2."
    auth = {"Authorization": "Bearer tok-123"}
    with Sandbox(strict=["x"]) as sandbox:

        def create(words: str) -> str:
            url = f"{sandbox.url}/2/tweets"
            answer = session.post(url, json={"text": words}, headers=auth, timeout=TIMEOUT)
            return str(answer.json()["data"]["id"])

        since = datetime.now(UTC)
        ids = [create(text), create(text)]
        for n in range(120):  # newer posts push ours onto the second page
            create(f"{text[:-1]}{n}")
        create(text.replace("c=2", "c=3"))  # differs only by its link

        found = X.lookup(get_json(session), publish_request(sandbox.url, text=text), since)

    assert [p.external_id for p in found] == ids
    assert sandbox.creates_by_text()[text] == 2


def test_x_lookup_raises_on_an_http_error(api: FakeApi, session: requests.Session) -> None:
    api.routes["/2/users/me"] = (503, {"title": "Service Unavailable"})
    with pytest.raises(LookupFailed):
        X.lookup(get_json(session), publish_request(api.url), SINCE)


# --- webhook and signing -----------------------------------------------------------------


def test_sign_matches_rfc_4231_test_case_2() -> None:
    assert sign(b"what do ya want for nothing?", "Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


@pytest.mark.parametrize(
    ("body", "secret", "header", "expected"),
    [
        (b"{}", "s", sign(b"{}", "s"), True),
        (b"{} ", "s", sign(b"{}", "s"), False),
        (b"{}", "other", sign(b"{}", "s"), False),
        (b"{}", "s", sign(b"{}", "s").upper(), False),
        (b"{}", "s", "", False),
        (b"{}", "s", "sha256=zz\u00e9\ud800", False),
    ],
)
def test_verify(body: bytes, secret: str, header: str, expected: bool) -> None:
    assert verify(body, secret, header) is expected


def test_webhook_prepare_signs_the_exact_body() -> None:
    request = publish_request(
        base_url="https://hooks.example/in?x=1", text="Grüße", options={"b": 1, "a": [2]}
    )
    call = WEBHOOK.prepare(request)
    assert (call.method, call.url, call.json) == ("POST", "https://hooks.example/in?x=1", None)
    assert call.data == (
        b'{"idempotency_key":"post-42-attempt","options":{"a":[2],"b":1},'
        b'"text":"Gr\\u00fc\\u00dfe"}'
    )
    assert call.data == encode_body(request)
    assert call.headers == {
        "Content-Type": "application/json",
        "Authorization": "Bearer tok-123",
        "Idempotency-Key": "post-42-attempt",
        SIGNATURE_HEADER: sign(call.data, "tok-123"),
    }
    assert verify(call.data, "tok-123", call.headers[SIGNATURE_HEADER])


def test_webhook_body_arrives_byte_for_byte(api: FakeApi, session: requests.Session) -> None:
    # Given a prepared call sent as the engine sends it
    api.routes["/hook"] = (202, {"id": "r-1"})
    call = WEBHOOK.prepare(publish_request(base_url=api.url + "/hook", text="hi"))
    response = session.request(
        call.method, call.url, headers=dict(call.headers), data=call.data, timeout=TIMEOUT
    )
    # Then the receiver can verify what it got
    (seen,) = api.seen
    assert verify(seen.body, "tok-123", seen.headers[SIGNATURE_HEADER])
    assert json.loads(seen.body)["text"] == "hi"
    assert WEBHOOK.parse_success(response.status_code, response.json()) == Published("r-1")


@pytest.mark.parametrize(
    ("status", "body", "with_request", "expected"),
    [
        (
            200,
            {"id": "r-1", "url": "https://hooks.example/r-1"},
            False,
            Published("r-1", "https://hooks.example/r-1"),
        ),
        (201, {"id": 5}, False, Published("5")),
        (204, None, True, Published("post-42-attempt")),
        (200, {"ok": True}, True, Published("post-42-attempt")),
        (200, "accepted", True, Published("post-42-attempt")),
        (200, {"id": ""}, True, Published("post-42-attempt")),
        (204, None, False, None),
        (409, {"id": "r-1"}, True, None),
    ],
)
def test_webhook_parse_success(
    status: int, body: Any, with_request: bool, expected: Published | None
) -> None:
    request = publish_request() if with_request else None
    assert WEBHOOK.parse_success(status, body, request) == expected


def test_webhook_lookup_has_no_way_to_look(session: requests.Session) -> None:
    assert not WEBHOOK.can_lookup
    with pytest.raises(LookupFailed):
        WEBHOOK.lookup(get_json(session), publish_request(), SINCE)
