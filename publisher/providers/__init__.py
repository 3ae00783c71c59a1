"""The registry of providers, by name.

Each provider is one module implementing ``base.Provider``; the engine finds one by the
name stored on a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from publisher.errors import InvalidInput
from publisher.providers.base import Provider
from publisher.providers.bluesky import BlueskyProvider
from publisher.providers.discord import DiscordProvider
from publisher.providers.facebook import FacebookProvider
from publisher.providers.linkedin import LinkedInProvider
from publisher.providers.mastodon import MastodonProvider
from publisher.providers.telegram import TelegramProvider
from publisher.providers.threads import ThreadsProvider
from publisher.providers.webhook import WebhookProvider
from publisher.providers.x import XProvider

PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        provider.name: provider
        for provider in (
            BlueskyProvider(),
            DiscordProvider(),
            FacebookProvider(),
            LinkedInProvider(),
            MastodonProvider(),
            TelegramProvider(),
            ThreadsProvider(),
            WebhookProvider(),
            XProvider(),
        )
    }
)


def get_provider(name: str) -> Provider:
    """The provider called ``name``; raises ``InvalidInput("provider", ...)`` if none is."""
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise InvalidInput(
            "provider", f"unknown provider {name!r}; expected one of: {known}"
        ) from None
