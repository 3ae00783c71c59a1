"""Mastodon media: upload a file with its description, poll until it is processed.

``POST /api/v2/media`` (multipart: ``file``, ``description``) answers 200 with the
attachment when it was processed at once, or 202 with ``url: null`` while the full file
is processed in the background; ``GET /api/v1/media/:id`` then answers 206 while it is
still processing and 200 once done. A status names ready attachments in ``media_ids``.
Sources: https://docs.joinmastodon.org/methods/media/#v2,
https://docs.joinmastodon.org/methods/media/#get,
https://docs.joinmastodon.org/entities/MediaAttachment/.

An upload is not idempotent, but a repeated one is harmless: an attachment no status
names is never shown, and the server deletes it after a day.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from publisher.providers import rest
from publisher.providers.base import MediaFile, PreparedCall, Uploaded

UPLOAD_PATH = "/api/v2/media"
# Mastodon gives no hint when to poll; its own web client polls about every second or two.
POLL_SECONDS = 2.0


class MastodonUploader:
    """``base.MediaUploader`` for Mastodon: pure, stateless; the description travels
    with the upload, so no describe step."""

    def describes(self, kind: str) -> bool:
        """Never: the upload carries the alt text (``description``)."""
        return False

    def continue_upload(
        self, base_url: str, token: str, file: MediaFile, media_id: str
    ) -> tuple[PreparedCall, ...]:
        """Nothing: one request uploads the whole file."""
        return ()

    def prepare_upload(self, base_url: str, token: str, file: MediaFile) -> PreparedCall:
        """``POST /api/v2/media`` with the file and, when there is one, its description
        (at most 1,500 characters: checked when the post was created)."""
        fields: dict[str, Any] = {"file": (file.filename, file.content, file.content_type)}
        if file.alt:
            fields["description"] = file.alt
        return rest.multipart(f"{rest.root(base_url)}{UPLOAD_PATH}", token, fields)

    def parse_upload(self, status: int, body: Any) -> Uploaded | None:
        """The attachment's id and whether it is ready (200 with a ``url``) or still
        processing (202, ``url`` null); None when the answer is not a 2xx attachment."""
        return _attachment(status, body)

    def prepare_describe(self, base_url: str, token: str, media_id: str, alt: str) -> PreparedCall:
        """``PUT /api/v1/media/:id`` with the description (unused: the upload carries it)."""
        return PreparedCall(
            method="PUT",
            url=_media_url(base_url, media_id),
            headers=rest.bearer(token),
            json={"description": alt},
        )

    def prepare_poll(self, base_url: str, token: str, media_id: str) -> PreparedCall:
        """``GET /api/v1/media/:id``."""
        return PreparedCall(
            method="GET", url=_media_url(base_url, media_id), headers=rest.bearer(token)
        )

    def parse_poll(self, status: int, body: Any, media_id: str) -> Uploaded | None:
        """Ready (200 with a ``url``), processing (206), failed (404: the attachment is
        gone; 422: the file could not be processed); None for other answers (the
        provider's error table classifies them)."""
        if status in (404, 422):
            message = body.get("error") if isinstance(body, Mapping) else None
            return Uploaded(media_id, ready=False, failed=str(message or f"HTTP {status}"))
        return _attachment(status, body, media_id)


UPLOADER = MastodonUploader()


def _media_url(base_url: str, media_id: str) -> str:
    return f"{rest.root(base_url)}/api/v1/media/{quote(media_id, safe='')}"


def _attachment(status: int, body: Any, media_id: str | None = None) -> Uploaded | None:
    if not 200 <= status < 300 or not isinstance(body, Mapping):
        return None
    found = body.get("id", media_id)
    if found is None or found == "" or isinstance(found, bool):
        return None
    ready = status == 200 and bool(body.get("url"))
    return Uploaded(str(found), ready=ready, wait=None if ready else POLL_SECONDS)
