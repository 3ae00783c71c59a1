"""Threads (Meta): the container and publish requests, the container's status, what an
ambiguous publish leads to, and the text rule; pure logic (the provider is not registered
until the runner has its container step)."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.providers import PROVIDERS
from publisher.providers.base import PublishRequest
from publisher.providers.threads import (
    MAX_TEXT,
    RULE,
    Container,
    ContainerStatus,
    Next,
    after_ambiguous_publish,
    parse_id,
    parse_status,
    prepare_container,
    prepare_publish,
    prepare_status,
)

ROOT = "https://graph.threads.example/v1.0"


def request(reply_to: str | None = None) -> PublishRequest:
    return PublishRequest(
        base_url=ROOT + "/",
        token="tok",
        text="Hi",
        options={},
        idempotency_key="k",
        reply_to=reply_to,
    )


def test_not_registered_until_the_runner_drives_containers() -> None:
    assert "threads" not in PROVIDERS


def test_container_request_is_a_text_container_replying_to_the_part_before() -> None:
    first, later = prepare_container(request()), prepare_container(request(reply_to="17"))
    assert (first.method, first.url) == ("POST", f"{ROOT}/me/threads")
    assert first.headers == {"Authorization": "Bearer tok"}
    assert first.json == {"media_type": "TEXT", "text": "Hi"}
    assert later.json == {"media_type": "TEXT", "text": "Hi", "reply_to_id": "17"}


def test_publish_and_status_requests_name_the_container() -> None:
    publish = prepare_publish(ROOT, "tok", "c/1")
    assert (publish.method, publish.url) == ("POST", f"{ROOT}/me/threads_publish?creation_id=c%2F1")
    status = prepare_status(ROOT, "tok", "99")
    assert (status.method, status.url) == ("GET", f"{ROOT}/99?fields=status,error_message")


@pytest.mark.parametrize(
    ("status", "body", "found"),
    [(200, {"id": "5"}, "5"), (200, {"id": 5}, "5"), (200, {}, None), (400, {"id": "5"}, None)],
)
def test_parse_id(status: int, body: Any, found: str | None) -> None:
    assert parse_id(status, body) == found


def test_parse_status_reads_the_state_and_the_error() -> None:
    body = {"id": "9", "status": "ERROR", "error_message": "FAILED_PROCESSING_VIDEO"}
    assert parse_status(200, body) == Container(
        "9", ContainerStatus.ERROR, "FAILED_PROCESSING_VIDEO"
    )
    assert parse_status(200, {"id": "9", "status": "WEIRD"}) is None


# One row per status: what an attempt does after a publish that may have landed.
@pytest.mark.parametrize(
    ("status", "then"),
    [
        (ContainerStatus.PUBLISHED, Next.FOUND),
        (ContainerStatus.FINISHED, Next.PUBLISH_AGAIN),
        (ContainerStatus.IN_PROGRESS, Next.WAIT),
        (ContainerStatus.ERROR, Next.NEW_CONTAINER),
        (ContainerStatus.EXPIRED, Next.NEW_CONTAINER),
    ],
)
def test_after_an_ambiguous_publish(status: ContainerStatus, then: Next) -> None:
    assert after_ambiguous_publish(Container("1", status)) is then


@pytest.mark.parametrize(
    ("text", "length"),
    [("héllo", 5), ("hi 👍", 7), ("👨‍👩‍👧‍👦", 25), ("e\u0301", 1), ("a" * 500, MAX_TEXT)],
)
def test_text_counts_emoji_as_their_utf8_bytes(text: str, length: int) -> None:
    assert RULE.measure(text, {}) == length
