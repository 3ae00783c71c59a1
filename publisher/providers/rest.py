"""What the JSON REST providers (Mastodon, X) share: bearer auth, GETs for lookups, and
reading the timestamps they send."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def root(base_url: str) -> str:
    return base_url.rstrip("/")


def get_json(
    session: requests.Session,
    url: str,
    headers: Mapping[str, str],
    timeout: tuple[float, float],
) -> Any:
    """GET ``url`` and parse its JSON; raises ``requests.RequestException`` on failure."""
    response = session.get(url, headers=headers, timeout=timeout)
    response.raise_for_status()
    return response.json()


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC if it names no zone), else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
