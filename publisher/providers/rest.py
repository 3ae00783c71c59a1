"""What the JSON REST providers (Mastodon, X) share: bearer auth, the API root, and
reading the timestamps they send."""

from __future__ import annotations

from datetime import UTC, datetime


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def root(base_url: str) -> str:
    return base_url.rstrip("/")


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC if it names no zone), else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
