"""Webhook media: a receiver gets each file as a URL in the payload, never the bytes.

An uploaded file's URL is publisher's own ``GET /v1/media/{id}/content`` (behind the API
key: receivers fetch it with a key of their own); a file given by URL keeps that URL.
The entries go in the payload's ``media`` list, in the post's order.
"""

from __future__ import annotations

from typing import Any


def content_url(public_url: str, media_id: int) -> str:
    """Where a receiver fetches uploaded media ``media_id`` (``PUBLISHER_PUBLIC_URL``)."""
    return f"{public_url.rstrip('/')}/v1/media/{media_id}/content"


def entry(
    media_id: int, url: str, kind: str | None, content_type: str | None, alt: str
) -> dict[str, Any]:
    """One item of the payload's ``media`` list (``type``, ``content_type``: None for a
    URL publisher has not fetched)."""
    return {"id": media_id, "url": url, "type": kind, "content_type": content_type, "alt": alt}
