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
