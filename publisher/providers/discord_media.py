"""Discord media: a post's files as attachments of the Execute Webhook request itself.

https://discord.com/developers/docs/reference#uploading-files: "To add file(s), the
standard ``application/json`` body must be replaced by a ``multipart/form-data`` body. The
JSON message body can optionally be provided using the ``payload_json`` parameter"; each
file is a part named ``files[n]`` with a ``filename``, and ``n`` is the placeholder id an
entry of ``attachments`` (in ``payload_json``) refers to, which carries the file's
``description`` (its alt text; the attachment object's "description for the file (max
1024 characters)", https://discord.com/developers/docs/resources/message#attachment-object).
"The file upload size limit applies to each file in a request. The default limit is
``10 MiB``", higher only on a boosted server: publisher holds every webhook to the
default. A message takes at most ten attachments
(https://discord.com/developers/docs/resources/webhook#execute-webhook: ``files[n]``,
``attachments``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from urllib3 import encode_multipart_formdata

from publisher.providers.base import MediaFile
from publisher.providers.media_rule import MB, Kind, MediaRule

# The default upload limit per file (a server's boost raises it; publisher cannot see it).
FILE_BYTES = 10 * MB
# Attachments per message.
MAX_FILES = 10
# An attachment's description: "max 1024 characters".
MAX_DESCRIPTION = 1024

MEDIA_RULE = MediaRule(
    max_items=MAX_FILES,
    max_bytes={Kind.IMAGE: FILE_BYTES, Kind.GIF: FILE_BYTES, Kind.VIDEO: FILE_BYTES},
    max_alt=MAX_DESCRIPTION,
)


def multipart(payload: Mapping[str, Any], files: Sequence[MediaFile]) -> tuple[bytes, str]:
    """The body (and its Content-Type) carrying ``payload`` as ``payload_json`` with one
    ``attachments`` entry per file (its description when it has alt text), and each file
    as ``files[n]``."""
    attachments: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    for index, file in enumerate(files):
        entry: dict[str, Any] = {"id": index, "filename": file.filename}
        if file.alt:
            entry["description"] = file.alt
        attachments.append(entry)
        fields[f"files[{index}]"] = (file.filename, file.content, file.content_type)
    document = json.dumps({**payload, "attachments": attachments})
    # payload_json first, so a reader sees the message before its files.
    ordered = {"payload_json": (None, document, "application/json"), **fields}
    return encode_multipart_formdata(ordered)
