"""Small media files for tests: real signatures, padded to a chosen size."""

from __future__ import annotations

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
GIF = b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00" + b"\x00" * 10
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20
MOV = b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 20


def sized(head: bytes, size: int) -> bytes:
    """``head`` padded with zeros to ``size`` bytes."""
    return head + b"\x00" * (size - len(head))
