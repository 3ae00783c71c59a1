"""What the JSON REST providers (Mastodon, X) share: bearer auth, the API root, a
multipart upload, and reading the timestamps they send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from urllib3 import encode_multipart_formdata

from publisher.providers.base import PreparedCall


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def root(base_url: str) -> str:
    return base_url.rstrip("/")


def multipart(url: str, token: str, fields: Mapping[str, Any]) -> PreparedCall:
    """A ``POST`` of ``fields`` as ``multipart/form-data`` (a file is a ``(filename,
    bytes, content type)`` tuple), with the bearer token in its header."""
    body, content_type = encode_multipart_formdata(dict(fields))
    headers = {**bearer(token), "Content-Type": content_type}
    return PreparedCall(method="POST", url=url, headers=headers, data=body)


def with_options(
    body: dict[str, Any], options: Mapping[str, Any], allowed: Sequence[str]
) -> dict[str, Any]:
    """``body`` with each ``allowed`` option the post sets (anything else is ignored)."""
    for key in allowed:
        if options.get(key) is not None:
            body[key] = options[key]
    return body


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC if it names no zone), else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def text_message(status: int, body: object) -> str:
    """A non-JSON error body's text, stripped; ``HTTP <status>`` when it has none."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return text.strip() if isinstance(text, str) and text.strip() else f"HTTP {status}"
