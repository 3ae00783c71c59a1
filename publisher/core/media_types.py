"""What a media file really is, read from its first bytes (magic numbers).

The type a client declares (a filename, a Content-Type header) is never trusted: a file
is what its bytes say, or it is refused. Sources: PNG (RFC 2083, section 3.1), JPEG/JFIF
(SOI marker FF D8 FF), GIF (GIF87a/GIF89a header), WebP (RIFF container with the
``WEBP`` form type, RFC 9649), MP4 and QuickTime (ISO/IEC 14496-12: an ``ftyp`` box
first, whose major brand ``qt  `` names QuickTime).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from publisher.providers.media_rule import Kind

# What the refusal names: every type sniff() recognises.
ACCEPTED = "PNG, JPEG, GIF, WebP, MP4 or QuickTime (MOV)"
# The most of a file ``sniff`` reads: enough for every signature below.
SNIFF_BYTES = 12
# A filename is only a label sent to the network: anything but these characters becomes
# "_", and its stem is cut to fit media.filename (255) with its extension.
FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_STEM = 200


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    kind: Kind
    extension: str  # for the filename sent to a network


PNG = Sniffed("image/png", Kind.IMAGE, "png")
JPEG = Sniffed("image/jpeg", Kind.IMAGE, "jpg")
GIF = Sniffed("image/gif", Kind.GIF, "gif")
WEBP = Sniffed("image/webp", Kind.IMAGE, "webp")
MP4 = Sniffed("video/mp4", Kind.VIDEO, "mp4")
MOV = Sniffed("video/quicktime", Kind.VIDEO, "mov")


def sniff(content: bytes) -> Sniffed | None:
    """The type of ``content`` by its signature, or None for anything else."""
    head = content[:SNIFF_BYTES]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and len(head) >= 12:
        return MOV if head[8:12] == b"qt  " else MP4
    return None


def filename_for(given: str | None, sniffed: Sniffed) -> str:
    """A safe filename: the stem of ``given`` (a client's name, a URL's last segment),
    the extension of the type the bytes really are."""
    stem = FILENAME_UNSAFE.sub("_", (given or "").rsplit("/", 1)[-1].rsplit(".", 1)[0])
    return f"{stem[:MAX_STEM] or 'media'}.{sniffed.extension}"
