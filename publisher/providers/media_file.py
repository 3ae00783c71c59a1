"""One media file ready to upload to a network: its bytes and what they are."""

from __future__ import annotations

from dataclasses import dataclass

from publisher.providers.media_rule import Kind


@dataclass(frozen=True)
class MediaFile:
    content: bytes
    content_type: str  # sniffed from the bytes, never the client's word
    filename: str
    kind: Kind
    alt: str
