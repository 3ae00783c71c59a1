"""The sandbox's Telegram and Discord against publisher's providers: each request the
provider prepares, sent to the stand-in, and its answer classified."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from publisher.engine.classify import Outcome, classify
from publisher.engine.exchange import Exchange
from publisher.providers.base import Category, MediaFile, Provider, PublishRequest
from publisher.providers.discord import DiscordProvider
from publisher.providers.telegram import TelegramProvider
from publisher.sandbox import Sandbox

TELEGRAM = TelegramProvider()
DISCORD = DiscordProvider()
NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=1.0) as running:
        yield running


def send(sandbox: Sandbox, text: str, chat: str = "@news", **kw: object) -> Outcome:
    """``text`` sent by the Telegram provider to ``chat``."""
    return call(TELEGRAM, f"{sandbox.url}/{chat}", text, **kw)


def hook(sandbox: Sandbox, text: str, webhook: str = "123", **kw: object) -> Outcome:
    """``text`` sent by the Discord provider through webhook ``webhook``."""
    return call(DISCORD, f"{sandbox.url}/api/webhooks/{webhook}", text, **kw)


def call(provider: Provider, base_url: str, text: str, **kw: object) -> Outcome:
    request = PublishRequest(
        base_url=base_url,
        token=str(kw.pop("token", "123:good")),
        text=text,
        options={},
        idempotency_key="k",
        **kw,  # type: ignore[arg-type]
    )
    prepared = provider.prepare(request)
    answer = requests.post(
        prepared.url,
        json=prepared.json,
        data=prepared.data,
        headers=dict(prepared.headers),
        timeout=5,
    )
    exchange = Exchange(
        prepared, None, status=answer.status_code, headers=dict(answer.headers), body=answer.content
    )
    return classify(provider, exchange, NOW, request)


def test_a_message_and_a_reply_to_it(sandbox: Sandbox) -> None:
    first = send(sandbox, "one")
    assert first.category is Category.SUCCESS and first.published is not None
    assert first.published.external_url == f"https://t.me/news/{first.published.external_id}"

    second = send(sandbox, "two", reply_to=first.published.external_id, part=1, parts=2)
    assert second.category is Category.SUCCESS
    assert sandbox.creates_by_text("telegram") == {"one": 1, "two": 1}


def test_a_reply_to_a_message_that_is_not_there_is_refused(sandbox: Sandbox) -> None:
    outcome = send(sandbox, "two", reply_to="999", part=1, parts=2)
    assert outcome.category is Category.FORBIDDEN
    assert sandbox.creates == []


@pytest.mark.parametrize(
    ("chat", "said"),
    [("@kicked", "kicked"), ("@nowhere", "chat not found"), ("@oldgroup", "-1009999")],
)
def test_chat_level_failures_stop_the_credential(sandbox: Sandbox, chat: str, said: str) -> None:
    outcome = send(sandbox, "hello", chat=chat)
    assert outcome.category is Category.UNAUTHORIZED
    assert outcome.message is not None and said in outcome.message


def test_a_bad_token(sandbox: Sandbox) -> None:
    sandbox.invalid_tokens.add("123:bad")
    assert send(sandbox, "hello", token="123:bad").category is Category.UNAUTHORIZED


def test_flood_control_is_read_from_the_body(sandbox: Sandbox) -> None:
    sandbox.throttle_seconds = 7
    outcome = send(sandbox, "busy [[fault:429]]")
    assert (outcome.category, outcome.rate_limited) == (Category.UNAVAILABLE, True)
    assert outcome.not_before == NOW + timedelta(seconds=7)


def test_a_gateway_error_after_the_store_is_ambiguous(sandbox: Sandbox) -> None:
    outcome = send(sandbox, "landed [[fault:502_after]]")
    assert (outcome.category, outcome.ambiguous) == (Category.UNAVAILABLE, True)
    assert sandbox.create_count(text="landed [[fault:502_after]]") == 1


def png(content: bytes = b"\x89PNG-cat", alt: str | None = "A cat") -> MediaFile:
    return MediaFile(content, "image/png", "cat.png", "image", alt)


def test_a_photo_is_sent_with_its_caption_and_bytes(sandbox: Sandbox) -> None:
    outcome = send(sandbox, "look", files=[png()])
    assert outcome.category is Category.SUCCESS and outcome.published is not None
    (record,) = sandbox.creates
    assert (record.id, record.text) == (outcome.published.external_id, "look")
    assert [m.sha256 for m in record.media] == [hashlib.sha256(b"\x89PNG-cat").hexdigest()]
    assert [c.path.rpartition("/")[2] for c in sandbox.calls] == ["sendPhoto"]


def test_an_album_is_one_post_named_by_its_first_message(sandbox: Sandbox) -> None:
    files = [png(b"\x89PNG-1"), MediaFile(b"mp4-2", "video/mp4", "v.mp4", "video", None)]
    outcome = send(sandbox, "album", files=files)
    assert outcome.category is Category.SUCCESS and outcome.published is not None
    (record,) = sandbox.creates
    assert record.id == outcome.published.external_id
    assert [m.size for m in record.media] == [6, 5]
    reply = send(sandbox, "after", reply_to=record.id, part=1, parts=2)
    assert reply.category is Category.SUCCESS  # a later part replies to the album


@pytest.mark.parametrize(
    ("text", "files"),
    [
        ("x" * 1025, [png()]),  # a caption over 1,024 characters
        ("empty", [png(b"")]),  # an empty file
        ("eleven", [png()] * 11),  # an album of more than ten
    ],
)
def test_telegram_refuses_what_the_bot_api_refuses(
    sandbox: Sandbox, text: str, files: list[MediaFile]
) -> None:
    assert send(sandbox, text, files=files).category is Category.FORBIDDEN
    assert sandbox.creates == []


# Discord


def test_a_webhook_message_is_confirmed_with_its_link(sandbox: Sandbox) -> None:
    outcome = hook(sandbox, "hello discord")
    assert outcome.category is Category.SUCCESS and outcome.published is not None
    message = outcome.published.external_id
    assert outcome.published.external_url == f"https://discord.com/channels/900/901/{message}"
    assert [c.path.partition("?")[2] for c in sandbox.calls] == ["wait=true"]


@pytest.mark.parametrize(("webhook", "token"), [("404", "t"), ("403", "t"), ("123", "gone")])
def test_webhook_level_failures_stop_the_credential(
    sandbox: Sandbox, webhook: str, token: str
) -> None:
    sandbox.invalid_tokens.add("gone")
    assert hook(sandbox, "hello", webhook, token=token).category is Category.UNAUTHORIZED


def test_an_invalid_message_is_refused(sandbox: Sandbox) -> None:
    assert hook(sandbox, "x" * 2001).category is Category.FORBIDDEN


def test_files_are_attached_with_their_descriptions(sandbox: Sandbox) -> None:
    files = [png(b"\x89PNG-1", "One"), png(b"\x89PNG-22", None)]
    outcome = hook(sandbox, "two files", files=files)
    assert outcome.category is Category.SUCCESS and outcome.published is not None
    (record,) = sandbox.creates
    assert [(m.size, m.description) for m in record.media] == [(6, "One"), (7, None)]
    assert [a["description"] for a in record.payload["attachments"][:1]] == ["One"]


@pytest.mark.parametrize(
    "files",
    [
        [png()] * 11,  # more than ten attachments
        [png(b"\x89PNG" + b"\x00" * (10 * 1024 * 1024))],  # over 10 MiB: 413
        [png(b"")],  # an empty file
        [png(alt="x" * 1025)],  # a description over 1,024 characters
    ],
)
def test_discord_refuses_what_discord_refuses(sandbox: Sandbox, files: list[MediaFile]) -> None:
    assert hook(sandbox, "refused", files=files).category is Category.FORBIDDEN
    assert sandbox.creates == []


def test_a_webhook_rate_limit_waits_and_holds(sandbox: Sandbox) -> None:
    sandbox.throttle_seconds = 9
    outcome = hook(sandbox, "busy [[fault:429]]")
    assert (outcome.category, outcome.rate_limited) == (Category.UNAVAILABLE, True)
    assert outcome.not_before is not None and outcome.not_before >= NOW + timedelta(seconds=9)
