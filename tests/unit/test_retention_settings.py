"""Retention settings: defaults, ``keep``, and the posts limit's floor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from publisher.core.retention import Policy
from publisher.core.settings import Settings
from publisher.errors import ConfigError


def test_defaults_keep_posts_and_prune_their_history() -> None:
    policy = Policy.from_settings(Settings.from_env({}))
    assert policy == Policy(
        calls=timedelta(days=30),
        events=timedelta(days=90),
        notifications=timedelta(days=30),
        posts=None,
        batch=1000,
    )


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"PUBLISHER_RETAIN_CALLS_DAYS": "7"}, "calls", timedelta(days=7)),
        ({"PUBLISHER_RETAIN_EVENTS_DAYS": "keep"}, "events", None),
        ({"PUBLISHER_RETAIN_NOTIFICATIONS_DAYS": "none"}, "notifications", None),
        ({"PUBLISHER_RETAIN_POSTS_DAYS": "365"}, "posts", timedelta(days=365)),
        ({"PUBLISHER_RETAIN_BATCH": "50"}, "batch", 50),
    ],
)
def test_each_setting(env: dict[str, str], field: str, expected: object) -> None:
    assert getattr(Policy.from_settings(Settings.from_env(env)), field) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"PUBLISHER_RETAIN_CALLS_DAYS": "-1"},
        {"PUBLISHER_RETAIN_CALLS_DAYS": "soon"},
        {"PUBLISHER_RETAIN_BATCH": "0"},
        # a post that may still be reconciled or re-approved must not go
        {"PUBLISHER_RETAIN_POSTS_DAYS": "0.5"},
    ],
)
def test_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)
