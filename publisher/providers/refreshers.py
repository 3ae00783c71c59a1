"""The refresher of each provider, by name: how its access token is renewed.

One not listed cannot refresh (its credential is refused a refresh_token). OAuth 2.0
networks share ``oauth2.OAUTH2``; Bluesky renews its session with its own call
(``bluesky_session``), Threads its long-lived token with itself (``threads_refresh``).
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.providers.bluesky_session import SESSION
from publisher.providers.oauth2 import OAUTH2, Refresher
from publisher.providers.threads_refresh import REFRESH as THREADS_REFRESH

REFRESHERS: Mapping[str, Refresher] = {
    "x": OAUTH2,
    "mastodon": OAUTH2,
    "webhook": OAUTH2,
    "linkedin": OAUTH2,  # on www.linkedin.com (oauth2.DEFAULT_TOKEN_URLS)
    "bluesky": SESSION,
    "threads": THREADS_REFRESH,  # a long-lived token refreshes itself (threads_refresh)
}

# Providers whose refresh names no client (a Bluesky session is the account's own).
CLIENTLESS = frozenset({"bluesky", "threads"})
