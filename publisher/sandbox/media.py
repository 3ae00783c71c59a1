"""The sandbox's media library: files uploaded to its Mastodon and X, their processing,
and which of them each created post carries.

Each upload gets an id from the ledger's sequence and stays "processing" for
``State.media_processing_polls`` status polls (0: ready at once), as a real network
transcodes video in the background. A post naming media is checked by ``attach``: a
strict provider refuses a media id it never issued to that token, or one still
processing, as the real APIs do; a helpful one takes the ids it knows and ignores the
rest. What a post carried is kept on its ``CreateRecord.media``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from publisher.sandbox.multipart import Part


@dataclass(frozen=True)
class MediaRecord:
    kind: str  # "mastodon" or "x"
    token: str | None
    id: str
    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    description: str | None  # the alt text, as the network stored it
    category: str | None = None  # X's media_category
    polls_left: int = 0  # status polls still answered "processing"
    total_bytes: int | None = None  # an X chunked upload's declared size
    chunks: tuple[bytes, ...] = field(default=(), repr=False)  # X appends, in order

    @property
    def ready(self) -> bool:
        return self.polls_left <= 0 and self.total_bytes is None


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def uploaded(
    kind: str, token: str | None, media_id: str, file: Part, description: str | None, **extra: Any
) -> MediaRecord:
    """The record of ``file`` (a multipart part) uploaded whole as ``media_id``, or carried
    by the create request itself (Telegram, Discord): its size and sha256, so tests can
    tell its bytes arrived intact."""
    return MediaRecord(
        kind=kind,
        token=token,
        id=media_id,
        filename=file.filename,
        content_type=file.content_type,
        size=len(file.content),
        sha256=digest(file.content),
        description=description,
        **extra,
    )


def mastodon_attachment(record: MediaRecord, base_url: str) -> dict[str, Any]:
    """The MediaAttachment entity; ``url`` is null while the file is processing."""
    kind = (record.content_type or "").split("/")[0]
    shown = "gifv" if record.content_type == "image/gif" else kind
    return {
        "id": record.id,
        "type": shown or "unknown",
        "url": f"{base_url}/system/media/{record.id}" if record.polls_left <= 0 else None,
        "preview_url": f"{base_url}/system/media/{record.id}/small",
        "description": record.description,
        "blurhash": None,
    }


class MediaLibrary:
    """Every upload, by (network, id); all access under one lock, reads return copies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], MediaRecord] = {}

    def add(self, record: MediaRecord) -> MediaRecord:
        with self._lock:
            self._records[(record.kind, record.id)] = record
        return record

    def find(self, kind: str, token: str | None, media_id: str) -> MediaRecord | None:
        """The upload ``media_id`` of ``token`` on ``kind`` (another token's is None)."""
        with self._lock:
            found = self._records.get((kind, media_id))
        return found if found is not None and found.token == token else None

    def update(self, record: MediaRecord, **changes: Any) -> MediaRecord:
        with self._lock:
            changed = replace(self._records[(record.kind, record.id)], **changes)
            self._records[(record.kind, record.id)] = changed
        return changed

    def poll(self, kind: str, token: str | None, media_id: str) -> MediaRecord | None:
        """The upload after one status poll (one fewer "processing" answer left)."""
        with self._lock:
            found = self._records.get((kind, media_id))
            if found is None or found.token != token:
                return None
            polled = replace(found, polls_left=max(found.polls_left - 1, 0))
            self._records[(kind, media_id)] = polled
            return found  # this poll is answered from the state before it

    def attach(
        self, kind: str, token: str | None, ids: Sequence[Any], strict: bool
    ) -> tuple[tuple[MediaRecord, ...], str | None]:
        """The uploads a post names, or why a strict network refuses the post: an id it
        never issued to ``token``, or one still processing."""
        found: list[MediaRecord] = []
        for media_id in ids:
            record = self.find(kind, token, str(media_id))
            if record is None:
                if strict:
                    return (), f"media {media_id} not found"
                continue
            if strict and not record.ready:
                return (), f"media {media_id} has not finished processing"
            found.append(record)
        return tuple(found), None

    @property
    def records(self) -> list[MediaRecord]:
        with self._lock:
            return list(self._records.values())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
