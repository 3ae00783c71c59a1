"""Classifying exchanges (pure): network errors, statuses, unreadable successes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from publisher.engine.classify import classify
from publisher.engine.exchange import Exchange
from publisher.providers import get_provider
from publisher.providers.base import Category, PreparedCall

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CALL = PreparedCall("POST", "http://m/api/v1/statuses", {})


def exchange(
    status: int | None,
    body: object = None,
    headers: dict[str, str] | None = None,
    error: str | None = None,
    ambiguous: bool = False,
) -> Exchange:
    raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return Exchange(
        CALL, None, status=status, headers=headers or {}, body=raw, error=error, ambiguous=ambiguous
    )


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (200, {"id": "1", "url": "u"}, Category.SUCCESS),
        (401, {"error": "The access token is invalid"}, Category.UNAUTHORIZED),
        (403, {"error": "This action is not allowed"}, Category.FORBIDDEN),
        (422, {"error": "Validation failed"}, Category.FORBIDDEN),
        (429, {"error": "Too many requests"}, Category.UNAVAILABLE),
        (503, {"error": "Service Unavailable"}, Category.UNAVAILABLE),
        (507, {"error": "odd"}, Category.UNAVAILABLE),
        (418, {"error": "teapot"}, Category.UNCLASSIFIED),
        (200, b"{not json", Category.UNCLASSIFIED),
    ],
)
def test_mastodon_statuses(status: int, body: object, category: Category) -> None:
    assert classify(get_provider("mastodon"), exchange(status, body), NOW).category is category


def test_unreadable_success_is_ambiguous() -> None:
    outcome = classify(get_provider("mastodon"), exchange(200, b"{not json"), NOW)
    assert outcome.ambiguous


@pytest.mark.parametrize(
    ("provider", "status", "body", "ambiguous"),
    [
        # A gateway can fail after the backend stored the post: every 5xx may have landed.
        ("mastodon", 500, {"error": "Internal Server Error"}, True),
        ("mastodon", 502, b"<html>Bad Gateway</html>", True),
        ("mastodon", 503, {"error": "Service Unavailable"}, True),
        ("x", 504, {"title": "Gateway Timeout"}, True),
        ("x", 503, {"errors": [{"code": 130, "message": "Over capacity"}]}, True),
        ("webhook", 500, b"oops", True),
        # Refused before anything was stored.
        ("mastodon", 429, {"error": "Too many requests"}, False),
        ("mastodon", 422, {"error": "Validation failed"}, False),
        ("x", 401, {"title": "Unauthorized"}, False),
        ("webhook", 408, b"timeout", False),
    ],
)
def test_a_5xx_answer_is_ambiguous(
    provider: str, status: int, body: object, ambiguous: bool
) -> None:
    assert classify(get_provider(provider), exchange(status, body), NOW).ambiguous is ambiguous


def test_an_oversized_answer_is_unreadable_and_ambiguous() -> None:
    oversized = Exchange(CALL, None, status=201, body=b"{" * 10, oversized=True)
    outcome = classify(get_provider("mastodon"), oversized, NOW)
    assert (outcome.category, outcome.ambiguous) == (Category.UNCLASSIFIED, True)


def test_network_error_is_unavailable_and_keeps_ambiguity() -> None:
    outcome = classify(
        get_provider("mastodon"), exchange(None, error="ReadTimeout: x", ambiguous=True), NOW
    )
    assert (outcome.category, outcome.ambiguous) == (Category.UNAVAILABLE, True)


def test_retry_after_sets_not_before_and_rate_limit() -> None:
    outcome = classify(
        get_provider("mastodon"), exchange(429, {"error": "slow down"}, {"Retry-After": "30"}), NOW
    )
    assert outcome.not_before == NOW + timedelta(seconds=30)
    assert outcome.rate_limited


def test_x_duplicate_code() -> None:
    body = {"errors": [{"code": 187, "message": "Status is a duplicate."}]}
    assert classify(get_provider("x"), exchange(403, body), NOW).category is Category.DUPLICATE


@pytest.mark.parametrize(
    ("provider", "headers", "cap", "wait"),
    [
        # X's own spelling, epoch seconds (2030-01-01T00:15:00Z)
        ("x", {"x-rate-limit-reset": "1893456900", "x-rate-limit-remaining": "0"}, 3600.0, 900),
        # Mastodon's, ISO 8601
        ("mastodon", {"X-RateLimit-Reset": "2030-01-01T00:15:00.000Z"}, 3600.0, 900),
        # one bad header cannot hold the credential past PUBLISHER_RETRY_AFTER_MAX
        ("mastodon", {"Retry-After": "31536000"}, 3600.0, 3600),
        ("x", {"x-rate-limit-reset": "4102444800"}, 120.0, 120),
    ],
)
def test_429_waits_for_the_providers_reset_up_to_the_cap(
    provider: str, headers: dict[str, str], cap: float, wait: int
) -> None:
    outcome = classify(get_provider(provider), exchange(429, {}, headers), NOW, header_cap=cap)
    assert outcome.category is Category.UNAVAILABLE and outcome.rate_limited
    assert outcome.not_before == NOW + timedelta(seconds=wait)
