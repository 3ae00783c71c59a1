"""Threads (Meta): the container, publish and status requests, the container's status,
the decisions the engine takes from it (one row per status), the error table (one row
per entry), the lookup and the text rule; pure logic (``get_json`` is a small fake)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from publisher.engine.container_steps import Next, after
from publisher.engine.steps import Confirmed, Kind, Part, Step, is_done, sequence
from publisher.errors import LookupFailed
from publisher.providers import PROVIDERS
from publisher.providers.base import (
    Category,
    Contained,
    ContainerState,
    MakesContainers,
    Published,
    PublishRequest,
    match_rule,
)
from publisher.providers.threads import (
    ERROR_TABLE,
    MAX_TEXT,
    PUBLISHING_LIMIT_WAIT,
    RULE,
    ThreadsProvider,
)

ROOT = "https://graph.threads.example/v1.0"
THREADS = ThreadsProvider()
SINCE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def request(reply_to: str | None = None, container_id: str | None = None) -> PublishRequest:
    return PublishRequest(
        base_url=ROOT + "/",
        token="tok",
        text="Hi",
        options={},
        idempotency_key="k",
        reply_to=reply_to,
        container_id=container_id,
    )


def test_registered_as_a_provider_publishing_from_containers() -> None:
    assert PROVIDERS["threads"].name == "threads"
    assert isinstance(PROVIDERS["threads"], MakesContainers)
    assert PROVIDERS["threads"].threads


def test_container_request_is_a_text_container_replying_to_the_part_before() -> None:
    first = THREADS.prepare_container(request())
    later = THREADS.prepare_container(request(reply_to="17"))
    assert (first.method, first.url) == ("POST", f"{ROOT}/me/threads")
    assert first.headers == {"Authorization": "Bearer tok"}
    assert first.json == {"media_type": "TEXT", "text": "Hi"}
    assert later.json == {"media_type": "TEXT", "text": "Hi", "reply_to_id": "17"}


def test_an_image_container_carries_its_public_url_and_alt_text() -> None:
    image = {"id": 3, "type": None, "alt": "a cat", "url": "https://cdn.example/cat.jpg"}
    call = THREADS.prepare_container(replace(request(), media=[image]))
    assert call.json == {
        "media_type": "IMAGE",
        "text": "Hi",
        "image_url": "https://cdn.example/cat.jpg",
        "alt_text": "a cat",
    }


def test_publish_and_status_requests_name_the_container() -> None:
    publish = THREADS.prepare(request(container_id="c/1"))
    assert (publish.method, publish.url) == ("POST", f"{ROOT}/me/threads_publish?creation_id=c%2F1")
    assert "tok" not in publish.url  # the token never rides in the query string
    status = THREADS.prepare_status(ROOT, "tok", "99")
    assert (status.method, status.url) == ("GET", f"{ROOT}/99?fields=status,error_message")


@pytest.mark.parametrize(
    ("status", "body", "found"),
    [(200, {"id": "5"}, "5"), (200, {"id": 5}, "5"), (200, {}, None), (400, {"id": "5"}, None)],
)
def test_container_and_post_ids(status: int, body: Any, found: str | None) -> None:
    assert THREADS.parse_container(status, body) == found
    assert THREADS.parse_success(status, body) == (None if found is None else Published(found))


@pytest.mark.parametrize(
    ("wire", "state"),
    [
        ("IN_PROGRESS", ContainerState.PROCESSING),
        ("FINISHED", ContainerState.READY),
        ("PUBLISHED", ContainerState.PUBLISHED),
        ("ERROR", ContainerState.FAILED),
        ("EXPIRED", ContainerState.EXPIRED),
    ],
)
def test_parse_status_one_row_per_status(wire: str, state: ContainerState) -> None:
    assert THREADS.parse_status(200, {"id": "9", "status": wire}) == Contained("9", state)


def test_parse_status_reads_the_error_and_refuses_the_unknown() -> None:
    body = {"id": "9", "status": "ERROR", "error_message": "FAILED_PROCESSING_VIDEO"}
    assert THREADS.parse_status(200, body) == Contained(
        "9", ContainerState.FAILED, "FAILED_PROCESSING_VIDEO"
    )
    assert THREADS.parse_status(200, {"id": "9", "status": "WEIRD"}) is None
    assert THREADS.parse_status(500, {"id": "9", "status": "FINISHED"}) is None


# One row per status (and, for FAILED, whether a publish of ours may have landed): what an
# attempt does about the part before (re)publishing it.
@pytest.mark.parametrize(
    ("state", "ambiguous", "then"),
    [
        (ContainerState.READY, False, Next.PUBLISH),
        (ContainerState.READY, True, Next.PUBLISH),  # not published: the same container again
        (ContainerState.PUBLISHED, True, Next.FIND),
        (ContainerState.PUBLISHED, False, Next.FIND),
        (ContainerState.PROCESSING, True, Next.WAIT),
        (ContainerState.EXPIRED, True, Next.RENEW),
        (ContainerState.EXPIRED, False, Next.RENEW),
        (ContainerState.FAILED, True, Next.RENEW),  # its publishing failed: nothing is out
        (ContainerState.FAILED, False, Next.REFUSE),  # its processing failed: refuse the part
    ],
)
def test_what_a_containers_state_leads_to(
    state: ContainerState, ambiguous: bool, then: Next
) -> None:
    assert after(state, ambiguous) is then


def test_each_part_is_contained_then_checked_then_created() -> None:
    steps = sequence([Part("a"), Part("b")], uploads=False, contains=True)
    assert [(s.kind, s.key) for s in steps] == [
        (Kind.CONTAIN, "p0.c"),
        (Kind.PROCESS, "p0.c"),
        (Kind.CREATE, "p0"),
        (Kind.CONTAIN, "p1.c"),
        (Kind.PROCESS, "p1.c"),
        (Kind.CREATE, "p1"),
    ]
    assert [s.kind for s in sequence([Part("a")], uploads=False)] == [Kind.CREATE]


def test_a_containers_status_is_asked_at_every_attempt_until_its_part_is_created() -> None:
    contain, check = Step(Kind.CONTAIN, 0), Step(Kind.PROCESS, 0)
    made = {"p0.c": Confirmed("c1", ready=True)}
    assert not is_done(contain, {}) and is_done(contain, made)
    assert not is_done(check, made)  # ready once is not ready now: it may have expired
    assert is_done(check, {**made, "p0": Confirmed("m1")})


def graph_error(code: int, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"error {code}", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


# One row per Threads entry in front of Graph's table (test_facebook.py has Graph's rows).
@pytest.mark.parametrize(
    ("status", "code", "subcode", "category"),
    [
        (400, 9, 2207042, Category.UNAVAILABLE),  # publishing limit: hold, then retry
        (400, 190, 463, Category.UNAUTHORIZED),  # the token
        (403, 10, None, Category.FORBIDDEN),  # a permission
        (400, 4, None, Category.UNAVAILABLE),  # throttling
        (500, 1, None, Category.UNAVAILABLE),  # transient
    ],
)
def test_error_table(status: int, code: int, subcode: int | None, category: Category) -> None:
    error = THREADS.parse_error(status, graph_error(code, subcode))
    assert match_rule(ERROR_TABLE, status, error) is category


def test_the_publishing_limit_asks_to_wait_and_other_errors_do_not() -> None:
    limited = THREADS.parse_error(400, graph_error(9, 2207042))
    assert limited.retry_after == PUBLISHING_LIMIT_WAIT.total_seconds()
    assert THREADS.parse_error(400, graph_error(4)).retry_after is None


def fake_get(pages: Mapping[str, Any]) -> Any:
    def get_json(url: str, headers: Mapping[str, str]) -> Any:
        assert headers == {"Authorization": "Bearer tok"}
        key = url.partition("&after=")[2] or "first"
        return pages[key]

    return get_json


def test_lookup_finds_the_exact_text_since_the_first_attempt_oldest_first() -> None:
    pages = {
        "first": {
            "data": [
                {"id": "3", "text": "Hi", "timestamp": "2024-05-01T12:10:00+0000"},
                {"id": "2", "text": "Hi!", "timestamp": "2024-05-01T12:05:00+0000"},
            ],
            "paging": {"cursors": {"after": "A"}, "next": "more"},
        },
        "A": {
            "data": [
                {"id": "1", "text": "Hi", "timestamp": "2024-05-01T12:01:00+0000"},
                {"id": "0", "text": "Hi", "timestamp": "2024-04-01T12:00:00+0000"},  # too old
            ]
        },
    }
    found = THREADS.lookup(fake_get(pages), request(), SINCE)
    assert found == [Published("1"), Published("3")]


def test_lookup_that_cannot_tell_raises() -> None:
    with pytest.raises(LookupFailed):
        THREADS.lookup(fake_get({"first": {"error": "no"}}), request(), SINCE)


@pytest.mark.parametrize(
    ("text", "length"),
    [("héllo", 5), ("hi 👍", 7), ("👨‍👩‍👧‍👦", 25), ("e\u0301", 1), ("a" * 500, MAX_TEXT)],
)
def test_text_counts_emoji_as_their_utf8_bytes(text: str, length: int) -> None:
    assert RULE.measure(text, {}) == length
