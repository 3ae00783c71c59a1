"""Telegram media: a post's files sent in the one request that creates its message.

The Bot API takes a file in the call that sends it, as ``multipart/form-data``
(https://core.telegram.org/bots/api#sending-files: "10 MB max size for photos, 50 MB for
other files"; #inputfile): one image is ``sendPhoto`` (field ``photo``), one video
``sendVideo`` (``video``), one GIF ``sendAnimation`` (``animation``); two to ten images
and videos are an album, ``sendMediaGroup`` (#sendmediagroup: "an array describing
messages to be sent, must include 2-10 items"), whose ``media`` is a JSON array of
``InputMediaPhoto``/``InputMediaVideo`` (#inputmediaphoto) naming each file by
``attach://<file_attach_name>``; "On success, an array of Messages that were sent is
returned". A GIF cannot join an album (albums take audio, documents, photos and videos),
so it goes alone.

The text is the caption ("0-1024 characters after entities parsing", #sendphoto; on an
album, the first item's caption is the one clients show under it): a post with media
whose text is longer is refused when it is created (``MEDIA_RULE.max_caption``, counted
in UTF-16 code units like the message text).

Alt text: the Bot API has none (no field on ``sendPhoto`` or ``InputMedia*``). A file's
alt text is accepted and dropped, so the same post can go to networks that take it; the
README says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from urllib3 import encode_multipart_formdata

from publisher.providers.base import MediaFile, PreparedCall
from publisher.providers.media_rule import Kind, MediaRule

# "0-1024 characters after entities parsing": counted in UTF-16 code units, as the text.
CAPTION_LIMIT = 1024
# The Bot API's upload limits, read as decimal megabytes: never above Telegram's, however
# it counts a megabyte, so a file that passes is never refused as too big.
PHOTO_BYTES = 10_000_000
FILE_BYTES = 50_000_000
# An album holds 2-10 items; a post carries at most that.
ALBUM_MAX = 10
# Accepted for posts that also go elsewhere, then dropped: Telegram has no alt text.
ALT_ACCEPTED = 1_500

MEDIA_RULE = MediaRule(
    max_items=ALBUM_MAX,
    max_bytes={Kind.IMAGE: PHOTO_BYTES, Kind.GIF: FILE_BYTES, Kind.VIDEO: FILE_BYTES},
    max_alt=ALT_ACCEPTED,
    alone=frozenset({Kind.GIF}),
    max_caption=CAPTION_LIMIT,
)

# One file: the method and the field that carries it, by kind.
SINGLE: Mapping[str, tuple[str, str]] = {
    Kind.IMAGE: ("sendPhoto", "photo"),
    Kind.VIDEO: ("sendVideo", "video"),
    Kind.GIF: ("sendAnimation", "animation"),
}
ALBUM = "sendMediaGroup"
# An album item's ``type``, by kind (a GIF never joins an album: ``alone``).
ALBUM_TYPES: Mapping[str, str] = {Kind.IMAGE: "photo", Kind.VIDEO: "video"}


def prepare(
    server: str, token: str, chat: str, text: str, files: Sequence[MediaFile], reply: str | None
) -> PreparedCall:
    """The request that sends ``files`` with ``text`` as their caption to ``chat``
    (replying to message ``reply``): one file by its own method, several as an album."""
    fields: dict[str, Any] = {"chat_id": chat}
    if reply is not None:
        fields["reply_parameters"] = json.dumps({"message_id": int(reply)})
    if len(files) == 1:
        (file,) = files
        method, name = SINGLE[file.kind]
        fields |= {"caption": text, name: (file.filename, file.content, file.content_type)}
    else:
        method = ALBUM
        fields["media"] = json.dumps(album(text, files))
        for index, file in enumerate(files):
            fields[attach_name(index)] = (file.filename, file.content, file.content_type)
    body, content_type = encode_multipart_formdata(fields)
    return PreparedCall(
        method="POST",
        url=f"{server}/bot{token}/{method}",
        headers={"Content-Type": content_type},
        data=body,
    )


def album(text: str, files: Sequence[MediaFile]) -> list[dict[str, str]]:
    """The ``media`` array: one ``InputMedia*`` per file, the caption on the first."""
    items = [
        {"type": ALBUM_TYPES[file.kind], "media": f"attach://{attach_name(index)}"}
        for index, file in enumerate(files)
    ]
    items[0]["caption"] = text
    return items


def attach_name(index: int) -> str:
    """The multipart field of an album's ``index``-th file (``attach://`` names it)."""
    return f"file{index}"
