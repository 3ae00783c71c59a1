"""Telegram (pure): the request (with files: by method, or an album), the answers, one
row per error-table entry, the body's ``retry_after``, the text and media limits, and no
lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from publisher.core.redact import Redactor
from publisher.engine.classify import classify
from publisher.engine.exchange import Exchange
from publisher.errors import LookupFailed
from publisher.providers import get_provider
from publisher.providers.base import (
    Category,
    MediaFile,
    PreparedCall,
    Published,
    PublishRequest,
    match_rule,
)
from publisher.providers.media_rule import Kind
from publisher.providers.telegram import ERROR_TABLE, TEXT_LIMIT, TelegramProvider
from publisher.sandbox.multipart import Part, parse

TELEGRAM = TelegramProvider()
NOW = datetime(2030, 1, 1, tzinfo=UTC)
TOKEN = "123456:ABC-secret"


def request(base_url: str = "https://api.telegram.org/@news", **kw: object) -> PublishRequest:
    fields: dict[str, object] = {"text": "Hello", "options": {}, "idempotency_key": "k"}
    return PublishRequest(base_url=base_url, token=TOKEN, **(fields | kw))  # type: ignore[arg-type]


def failure(status: int, description: str, **parameters: object) -> dict[str, object]:
    body: dict[str, object] = {"ok": False, "error_code": status, "description": description}
    return body | ({"parameters": parameters} if parameters else {})


def test_registered_under_its_name() -> None:
    assert isinstance(get_provider("telegram"), TelegramProvider)


def test_prepare_sends_the_text_to_the_credentials_chat() -> None:
    call = TELEGRAM.prepare(request())
    assert (call.method, call.url) == ("POST", f"https://api.telegram.org/bot{TOKEN}/sendMessage")
    assert call.json == {"chat_id": "@news", "text": "Hello"}


def test_a_self_hosted_server_under_a_path_and_a_numeric_chat() -> None:
    call = TELEGRAM.prepare(request("http://127.0.0.1:8081/tg/-1001234/"))
    assert call.url == f"http://127.0.0.1:8081/tg/bot{TOKEN}/sendMessage"
    assert call.json["chat_id"] == "-1001234"


def test_a_threads_later_part_replies_to_the_part_before() -> None:
    call = TELEGRAM.prepare(request(reply_to="41", part=1, parts=2))
    assert call.json["reply_parameters"] == {"message_id": 41}


def test_the_token_in_the_url_is_redacted() -> None:
    url = TELEGRAM.prepare(request()).url
    assert TOKEN not in Redactor([TOKEN])(url)


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.telegram.org/@news", "https://t.me/news/7"),
        ("https://api.telegram.org/-1009876", "https://t.me/c/9876/7"),
        ("https://api.telegram.org/12345", None),
    ],
)
def test_success_reads_the_message_id_and_its_link(base_url: str, url: str | None) -> None:
    body = {"ok": True, "result": {"message_id": 7, "chat": {"id": -1009876}}}
    assert TELEGRAM.parse_success(200, body, request(base_url)) == Published("7", url)


@pytest.mark.parametrize(
    "body", [{"ok": False}, {"ok": True, "result": {}}, {"ok": True, "result": {"message_id": "x"}}]
)
def test_a_success_without_a_message_id_is_unreadable(body: object) -> None:
    assert TELEGRAM.parse_success(200, body, request()) is None


# One row per entry of ERROR_TABLE, in its order.
ERROR_ROWS = [
    (
        400,
        failure(400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-1001),
        Category.UNAUTHORIZED,
    ),
    (401, failure(401, "Unauthorized"), Category.UNAUTHORIZED),
    (404, failure(404, "Not Found"), Category.UNAUTHORIZED),
    (403, failure(403, "Forbidden: bot was kicked from the channel chat"), Category.UNAUTHORIZED),
    (400, failure(400, "Bad Request: chat not found"), Category.UNAUTHORIZED),
    (400, failure(400, "Bad Request: message is too long"), Category.FORBIDDEN),
    (413, failure(413, "Request Entity Too Large"), Category.FORBIDDEN),
    (429, failure(429, "Too Many Requests: retry after 5", retry_after=5), Category.UNAVAILABLE),
    (500, failure(500, "Internal Server Error"), Category.UNAVAILABLE),
    (502, "<html>Bad Gateway</html>", Category.UNAVAILABLE),
    (503, b"", Category.UNAVAILABLE),
    (504, failure(504, "Gateway Timeout"), Category.UNAVAILABLE),
]


def test_every_table_entry_has_a_row() -> None:
    assert len(ERROR_ROWS) == len(ERROR_TABLE)


@pytest.mark.parametrize(("status", "body", "category"), ERROR_ROWS)
def test_error_table(status: int, body: object, category: Category) -> None:
    assert match_rule(ERROR_TABLE, status, TELEGRAM.parse_error(status, body)) is category


def test_a_migration_names_the_new_chat() -> None:
    error = TELEGRAM.parse_error(400, ERROR_ROWS[0][1])
    assert "-1001" in error.message and error.codes == (400, "migrate_to_chat_id")


def exchange(status: int, body: object, headers: dict[str, str] | None = None) -> Exchange:
    call = PreparedCall("POST", "http://t/bot/sendMessage", {})
    raw = json.dumps(body).encode()
    return Exchange(call, None, status=status, headers=headers or {}, body=raw)


def test_flood_control_holds_for_the_bodys_retry_after() -> None:
    outcome = classify(
        TELEGRAM, exchange(429, failure(429, "Too Many Requests", retry_after=42)), NOW
    )
    assert (outcome.category, outcome.rate_limited) == (Category.UNAVAILABLE, True)
    assert outcome.not_before == NOW + timedelta(seconds=42)


def test_the_later_of_header_and_body_counts_and_both_are_capped() -> None:
    body = failure(429, "Too Many Requests", retry_after=42)
    later = classify(TELEGRAM, exchange(429, body, {"Retry-After": "60"}), NOW)
    assert later.not_before == NOW + timedelta(seconds=60)
    capped = classify(TELEGRAM, exchange(429, body), NOW, header_cap=10)
    assert capped.not_before == NOW + timedelta(seconds=10)


def test_a_5xx_is_ambiguous() -> None:
    assert classify(TELEGRAM, exchange(502, failure(502, "Bad Gateway")), NOW).ambiguous


def test_text_counts_utf16_units_up_to_4096() -> None:
    rule = TELEGRAM.text_rule
    assert rule.limit == TEXT_LIMIT
    assert rule.measure("a😀", {}) == 3  # the emoji is a surrogate pair


def test_no_lookup_and_no_key_so_an_ambiguous_attempt_is_never_resent() -> None:
    assert (TELEGRAM.can_lookup, TELEGRAM.idempotency_window) == (False, None)
    with pytest.raises(LookupFailed):
        TELEGRAM.lookup(lambda url, headers: None, request(), NOW)


def photo(
    content: bytes = b"\x89PNG-one", kind: str = "image", alt: str | None = "a cat"
) -> MediaFile:
    types = {"image": "image/png", "video": "video/mp4", "gif": "image/gif"}
    return MediaFile(content, types[kind], f"f.{kind}", kind, alt)


def form(call: PreparedCall) -> dict[str, Part]:
    return parse(call.headers["Content-Type"], call.data or b"")


@pytest.mark.parametrize(
    ("kind", "method", "field"),
    [
        ("image", "sendPhoto", "photo"),
        ("video", "sendVideo", "video"),
        ("gif", "sendAnimation", "animation"),
    ],
)
def test_one_file_goes_by_its_own_method_with_the_text_as_caption(
    kind: str, method: str, field: str
) -> None:
    call = TELEGRAM.prepare(request(files=[photo(kind=kind)], reply_to="41"))
    assert call.url == f"https://api.telegram.org/bot{TOKEN}/{method}"
    sent = form(call)
    assert (sent["chat_id"].text, sent["caption"].text) == ("@news", "Hello")
    assert sent[field].content == b"\x89PNG-one" and sent[field].filename == f"f.{kind}"
    assert json.loads(sent["reply_parameters"].text) == {"message_id": 41}
    assert "a cat" not in (call.data or b"").decode("latin-1")  # Telegram has no alt text


def test_several_files_are_an_album_captioned_on_its_first_item() -> None:
    files = [photo(b"one"), photo(b"two", "video")]
    call = TELEGRAM.prepare(request(files=files))
    assert call.url.endswith("/sendMediaGroup")
    sent = form(call)
    assert json.loads(sent["media"].text) == [
        {"type": "photo", "media": "attach://file0", "caption": "Hello"},
        {"type": "video", "media": "attach://file1"},
    ]
    assert (sent["file0"].content, sent["file1"].content) == (b"one", b"two")


def test_an_albums_id_is_its_first_messages() -> None:
    body = {"ok": True, "result": [{"message_id": 7}, {"message_id": 8}]}
    assert TELEGRAM.parse_success(200, body, request()) == Published("7", "https://t.me/news/7")
    assert TELEGRAM.parse_success(200, {"ok": True, "result": []}, request()) is None


def test_media_rule_as_documented() -> None:
    rule = TELEGRAM.media_rule
    assert (rule.max_items, rule.max_caption) == (10, 1024)
    assert rule.max_bytes == {Kind.IMAGE: 10_000_000, Kind.GIF: 50_000_000, Kind.VIDEO: 50_000_000}
    assert rule.refusal([Kind.GIF, Kind.IMAGE]) is not None  # an animation cannot join an album
    assert rule.refusal([Kind.IMAGE, Kind.VIDEO]) is None
    assert rule.refusal([Kind.IMAGE] * 11) is not None
