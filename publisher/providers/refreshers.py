"""The refresher of each provider, by name: how its access token is renewed.

One not listed cannot refresh (its credential is refused a refresh_token). OAuth 2.0
networks share ``oauth2.OAUTH2``; Bluesky renews its session with its own call
(``bluesky_session``).
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.providers.bluesky_session import SESSION
from publisher.providers.oauth2 import OAUTH2, Refresher

REFRESHERS: Mapping[str, Refresher] = {
    "x": OAUTH2,
    "mastodon": OAUTH2,
    "webhook": OAUTH2,
    "linkedin": OAUTH2,  # on www.linkedin.com (oauth2.DEFAULT_TOKEN_URLS)
    "bluesky": SESSION,
}

# Providers whose refresh names no client (a Bluesky session is the account's own).
CLIENTLESS = frozenset({"bluesky"})
