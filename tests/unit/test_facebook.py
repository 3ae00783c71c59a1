"""Facebook Pages: the request, the answers, the error table (one row per entry) and the
reconciliation lookup, as pure logic (``get_json`` is a small fake)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from publisher.errors import LookupFailed
from publisher.providers import PROVIDERS
from publisher.providers.base import Category, Published, PublishRequest, match_rule
from publisher.providers.facebook import (
    ERROR_TABLE,
    LOOKUP_FIELDS,
    LOOKUP_PAGES,
    MAX_TEXT,
    FacebookProvider,
)

FACEBOOK = FacebookProvider()
SINCE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ROOT = "https://graph.example/v24.0"


def publish_request(
    text: str = "Hello fans", options: Mapping[str, Any] | None = None
) -> PublishRequest:
    return PublishRequest(
        base_url=ROOT + "/",
        token="page-token",
        text=text,
        options=options or {},
        idempotency_key="post-7",
    )


def graph_error(code: int, subcode: int | None = None, transient: bool = False) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"error {code}", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return {"error": {**error, "fbtrace_id": "Abc"}}


def test_registered_under_its_name() -> None:
    assert PROVIDERS["facebook"] is not None
    assert PROVIDERS["facebook"].name == "facebook"


def test_prepare_posts_the_message_to_the_pages_feed_with_a_bearer_token() -> None:
    call = FACEBOOK.prepare(publish_request(options={"link": "https://a.example", "x": 1}))
    assert (call.method, call.url) == ("POST", f"{ROOT}/me/feed")
    assert call.headers == {"Authorization": "Bearer page-token"}
    assert call.json == {"message": "Hello fans", "link": "https://a.example"}
    assert "page-token" not in call.url  # never in the query string (logs)


def test_parse_success_reads_the_post_id_and_its_url() -> None:
    assert FACEBOOK.parse_success(200, {"id": "10_20"}) == Published(
        "10_20", "https://www.facebook.com/10_20"
    )
    assert FACEBOOK.parse_success(200, {"success": True}) is None
    assert FACEBOOK.parse_success(200, "not json") is None


# One row per entry of the error table: (HTTP status, body, category).
ERROR_ROWS = [
    (400, graph_error(190), Category.UNAUTHORIZED),
    (400, graph_error(190, 463), Category.UNAUTHORIZED),  # expired
    (400, graph_error(190, 460), Category.UNAUTHORIZED),  # password changed
    (400, graph_error(102), Category.UNAUTHORIZED),
    (400, graph_error(506), Category.DUPLICATE),
    (400, graph_error(368), Category.FORBIDDEN),
    (400, graph_error(3), Category.FORBIDDEN),
    (403, graph_error(10), Category.FORBIDDEN),
    (403, graph_error(200), Category.FORBIDDEN),
    (403, graph_error(299), Category.FORBIDDEN),
    (400, graph_error(100), Category.FORBIDDEN),
    (400, graph_error(1609005), Category.FORBIDDEN),
    (500, graph_error(1), Category.UNAVAILABLE),
    (500, graph_error(2), Category.UNAVAILABLE),
    (400, graph_error(4), Category.UNAVAILABLE),
    (400, graph_error(17), Category.UNAVAILABLE),
    (400, graph_error(32), Category.UNAVAILABLE),
    (400, graph_error(341), Category.UNAVAILABLE),
    (400, graph_error(613), Category.UNAVAILABLE),
    (400, graph_error(80001), Category.UNAVAILABLE),
    (400, graph_error(9999, transient=True), Category.UNAVAILABLE),
    (401, "Unauthorized", Category.UNAUTHORIZED),
    (403, "Forbidden", Category.FORBIDDEN),
    (429, "", Category.UNAVAILABLE),
    (500, "<html>", Category.UNAVAILABLE),
    (502, "", Category.UNAVAILABLE),
    (503, "", Category.UNAVAILABLE),
    (504, "", Category.UNAVAILABLE),
]


@pytest.mark.parametrize(("status", "body", "category"), ERROR_ROWS)
def test_error_table(status: int, body: Any, category: Category) -> None:
    assert match_rule(ERROR_TABLE, status, FACEBOOK.parse_error(status, body)) is category


def test_every_table_entry_has_a_test_row() -> None:
    assert len(ERROR_ROWS) == len(ERROR_TABLE) + 3  # 190 has three rows, 200-299 two


def test_unknown_graph_code_is_left_unclassified() -> None:
    assert match_rule(ERROR_TABLE, 400, FACEBOOK.parse_error(400, graph_error(9999))) is None


def test_parse_error_reads_message_codes_and_subcode() -> None:
    error = FACEBOOK.parse_error(400, graph_error(190, 463))
    assert error.message == "error 190"
    assert error.codes == (190, "190/463")
    assert FACEBOOK.parse_error(502, b"  Bad Gateway ").message == "Bad Gateway"
    assert FACEBOOK.parse_error(502, None).message == "HTTP 502"


def test_text_is_counted_in_code_points_up_to_the_composer_limit() -> None:
    assert FACEBOOK.text_rule.limit == MAX_TEXT
    assert FACEBOOK.text_rule.measure("héllo 👍", {}) == 7


# --- lookup ------------------------------------------------------------------------------


class Pages:
    """``get_json`` answering from ``pages`` by URL; records what it was asked."""

    def __init__(self, pages: dict[str, Any]) -> None:
        self.pages = pages
        self.asked: list[str] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> Any:
        assert headers == {"Authorization": "Bearer page-token"}
        self.asked.append(url)
        if url not in self.pages:
            raise LookupFailed(f"HTTP 404 for {url}")
        return self.pages[url]


FIRST = f"{ROOT}/me/posts?fields={LOOKUP_FIELDS}&limit=100&since={int(SINCE.timestamp()) - 300}"


def post(post_id: str, message: str, created: str = "2024-05-01T12:01:00+0000") -> dict[str, Any]:
    return {"id": post_id, "message": message, "created_time": created}


def test_lookup_finds_the_pages_posts_with_the_exact_text_oldest_first() -> None:
    pages = Pages(
        {
            FIRST: {
                "data": [post("1_3", "Hello fans"), post("1_2", "Hello fans!")],
                "paging": {"cursors": {"after": "C1"}, "next": "https://graph/next"},
            },
            FIRST + "&after=C1": {
                "data": [
                    post("1_1", "Hello fans"),
                    post("1_0", "Hello fans", "2024-05-01T11:00:00+0000"),
                ]
            },
        }
    )
    found = FACEBOOK.lookup(pages, publish_request(), SINCE)
    assert [p.external_id for p in found] == ["1_1", "1_3"]  # 1_0 is before the window


def test_lookup_says_not_there_on_an_empty_page() -> None:
    assert FACEBOOK.lookup(Pages({FIRST: {"data": []}}), publish_request(), SINCE) == []


@pytest.mark.parametrize(
    "answer",
    [
        {"nodata": []},
        [],
        {"data": [], "paging": {"next": "https://graph/next"}},  # more, but no cursor
    ],
)
def test_lookup_fails_when_it_cannot_tell(answer: Any) -> None:
    with pytest.raises(LookupFailed):
        FACEBOOK.lookup(Pages({FIRST: answer}), publish_request(), SINCE)


def test_lookup_gives_up_after_its_pages() -> None:
    more = {"data": [], "paging": {"cursors": {"after": "C"}, "next": "https://graph/next"}}
    pages = Pages({FIRST: more, FIRST + "&after=C": more})
    with pytest.raises(LookupFailed):
        FACEBOOK.lookup(pages, publish_request(), SINCE)
    assert len(pages.asked) == LOOKUP_PAGES
