"""Telegram's and Discord's ``base_url`` checked when a credential is created: a chat, a
webhook without its token (``ChecksDestination``); one row per rule."""

from __future__ import annotations

import pytest

from publisher.providers import get_provider
from publisher.providers.base import ChecksDestination

TG = "https://api.telegram.org"
HOOKS = "https://discord.com/api/webhooks"


@pytest.mark.parametrize(
    ("provider", "base_url", "allow_private", "problem"),
    [
        ("telegram", f"{TG}/@news", False, None),
        ("telegram", f"{TG}/-1001234567890", False, None),
        ("telegram", "http://127.0.0.1:8081/tg/@news", True, None),
        ("telegram", "http://api.telegram.org/@news", False, "https"),
        ("telegram", TG, False, "must end with the chat"),
        ("telegram", f"{TG}/@abc", False, "must end with the chat"),  # 3 < 4 characters
        ("telegram", f"{TG}/news", False, "must end with the chat"),
        ("telegram", f"{TG}/bot123456:ABC-def/@news", False, "bot token"),
        ("discord", f"{HOOKS}/123456789012345678", False, None),
        ("discord", "https://canary.discord.com/api/v10/webhooks/1234", False, None),
        ("discord", "http://127.0.0.1:8765/api/webhooks/123", True, None),
        ("discord", f"{HOOKS}/1234/secret-token", False, "without its token"),
        ("discord", f"{HOOKS}/abc", False, "without its token"),
        ("discord", "https://discord.com/channels/1/2", False, "without its token"),
        ("discord", "https://evil.example/api/webhooks/1234", False, "discord.com over https"),
        ("discord", "http://discord.com/api/webhooks/1234", False, "discord.com over https"),
    ],
)
def test_the_destination_is_checked_at_connect(
    provider: str, base_url: str, allow_private: bool, problem: str | None
) -> None:
    checker = get_provider(provider)
    assert isinstance(checker, ChecksDestination)
    found = checker.destination_problem(base_url, allow_private)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
