"""Discord (pure): the request (always ``wait=true``; files as attachments), the answers,
one row per error-table entry, the body's ``retry_after``, the text and media limits, and no
lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

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
from publisher.providers.discord import ERROR_TABLE, TEXT_LIMIT, DiscordProvider
from publisher.providers.media_rule import Kind
from publisher.sandbox.multipart import parse

DISCORD = DiscordProvider()
NOW = datetime(2030, 1, 1, tzinfo=UTC)
BASE = "https://discord.com/api/webhooks/1234"


def request(**kw: object) -> PublishRequest:
    fields: dict[str, object] = {"text": "Hello", "options": {}, "idempotency_key": "k"}
    return PublishRequest(base_url=BASE, token="tok-en", **(fields | kw))  # type: ignore[arg-type]


def test_registered_under_its_name() -> None:
    assert isinstance(get_provider("discord"), DiscordProvider)


def test_prepare_always_waits_and_pings_nobody() -> None:
    for part in (request(), request(reply_to="9", part=1, parts=2)):
        call = DISCORD.prepare(part)
        assert (call.method, call.url) == ("POST", f"{BASE}/tok-en?wait=true")
        assert call.json == {"content": "Hello", "allowed_mentions": {"parse": []}}


@pytest.mark.parametrize(
    ("body", "published"),
    [
        ({"id": "77", "channel_id": "2", "guild_id": "3"}, Published("77", "https://discord.com/channels/3/2/77")),
        ({"id": "77", "channel_id": "2"}, Published("77", None)),
        ({"channel_id": "2"}, None),
        ({"id": 77}, None),
    ],
)  # fmt: skip
def test_success_reads_the_message(body: object, published: Published | None) -> None:
    assert DISCORD.parse_success(200, body, request()) == published


# One row per entry of ERROR_TABLE, in its order.
ERROR_ROWS = [
    (401, {"message": "Invalid Webhook Token", "code": 50027}, Category.UNAUTHORIZED),
    (404, {"message": "Unknown Webhook", "code": 10015}, Category.UNAUTHORIZED),
    (401, {"message": "401: Unauthorized", "code": 0}, Category.UNAUTHORIZED),
    (403, {"message": "Missing Permissions", "code": 50013}, Category.UNAUTHORIZED),
    (404, "404 page not found", Category.UNAUTHORIZED),
    (400, {"message": "Invalid Form Body", "code": 50035}, Category.FORBIDDEN),
    (413, {"message": "Request entity too large", "code": 40005}, Category.FORBIDDEN),
    (429, {"message": "You are being rate limited.", "retry_after": 1.5}, Category.UNAVAILABLE),
    (500, {"message": "500: Internal Server Error", "code": 0}, Category.UNAVAILABLE),
    (502, "<html>Bad Gateway</html>", Category.UNAVAILABLE),
    (503, b"", Category.UNAVAILABLE),
    (504, {"message": "Gateway Timeout"}, Category.UNAVAILABLE),
]


def test_every_table_entry_has_a_row() -> None:
    assert len(ERROR_ROWS) == len(ERROR_TABLE)


@pytest.mark.parametrize(("status", "body", "category"), ERROR_ROWS)
def test_error_table(status: int, body: object, category: Category) -> None:
    assert match_rule(ERROR_TABLE, status, DISCORD.parse_error(status, body)) is category


def exchange(status: int, body: object, headers: dict[str, str] | None = None) -> Exchange:
    call = PreparedCall("POST", f"{BASE}/t?wait=true", {})
    return Exchange(
        call, None, status=status, headers=headers or {}, body=json.dumps(body).encode()
    )


def test_a_rate_limit_waits_for_the_later_of_body_and_headers_and_holds() -> None:
    body = {"message": "You are being rate limited.", "retry_after": 64.5, "global": True}
    outcome = classify(DISCORD, exchange(429, body, {"Retry-After": "3"}), NOW)
    assert (outcome.category, outcome.rate_limited) == (Category.UNAVAILABLE, True)
    assert outcome.not_before == NOW + timedelta(seconds=64.5)
    assert outcome.message is not None and "global" in outcome.message


def test_an_exhausted_bucket_is_read_from_x_ratelimit_reset() -> None:
    reset = NOW + timedelta(seconds=20)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{reset.timestamp():.3f}"}
    outcome = classify(DISCORD, exchange(429, {"message": "slow"}, headers), NOW)
    assert outcome.not_before == reset


def test_a_5xx_is_ambiguous() -> None:
    assert classify(DISCORD, exchange(502, {"message": "Bad Gateway"}), NOW).ambiguous


def test_text_counts_utf16_units_up_to_2000() -> None:
    assert DISCORD.text_rule.limit == TEXT_LIMIT
    assert DISCORD.text_rule.measure("😀", {}) == 2


def test_no_lookup_and_no_key_so_an_ambiguous_attempt_is_never_resent() -> None:
    assert (DISCORD.can_lookup, DISCORD.idempotency_window) == (False, None)
    with pytest.raises(LookupFailed):
        DISCORD.lookup(lambda url, headers: None, request(), NOW)


def test_files_are_attachments_with_their_alt_text_as_description() -> None:
    files = [
        MediaFile(b"\x89PNG-one", "image/png", "cat.png", "image", "A cat"),
        MediaFile(b"GIF89a-two", "image/gif", "dance.gif", "gif", None),
    ]
    call = DISCORD.prepare(request(files=files))
    assert (call.url, call.json) == (f"{BASE}/tok-en?wait=true", None)
    sent = parse(call.headers["Content-Type"], call.data or b"")
    assert json.loads(sent["payload_json"].text) == {
        "content": "Hello",
        "allowed_mentions": {"parse": []},
        "attachments": [
            {"id": 0, "filename": "cat.png", "description": "A cat"},
            {"id": 1, "filename": "dance.gif"},
        ],
    }
    assert (sent["files[0]"].content, sent["files[0]"].content_type) == (
        b"\x89PNG-one",
        "image/png",
    )
    assert (sent["files[1]"].filename, sent["files[1]"].content) == ("dance.gif", b"GIF89a-two")


def test_media_rule_as_documented() -> None:
    rule = DISCORD.media_rule
    assert (rule.max_items, rule.max_alt, rule.max_caption) == (10, 1024, None)
    assert set(rule.max_bytes.values()) == {10 * 1024 * 1024}
    assert rule.refusal([Kind.IMAGE] * 11) is not None
    assert rule.refusal([Kind.VIDEO, Kind.GIF, Kind.IMAGE]) is None
