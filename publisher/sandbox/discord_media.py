"""The sandbox's Discord attachments: an Execute Webhook body in ``multipart/form-data``,
with the message in ``payload_json`` and each file in ``files[n]``.

As Discord (https://discord.com/developers/docs/reference#uploading-files): an entry of
``attachments`` names its file by id ``n`` and carries its ``description`` (at most
1,024 characters); each file at most 10 MiB (the default limit, a 413 with code 40005
beyond it), at most ten per message; an attachment entry without its ``files[n]``, or an
empty file, is ``Invalid Form Body`` (50035). A JSON body reads as before
(``sandbox.discord``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from publisher.sandbox.media import MediaRecord, uploaded
from publisher.sandbox.multipart import Part, form
from publisher.sandbox.state import State
from publisher.sandbox.wire import BadRequest, Request, Response, json_response

MAX_FILES = 10
FILE_BYTES = 10 * 1024 * 1024  # "The default limit is 10 MiB"
MAX_DESCRIPTION = 1024
FILE_FIELD = re.compile(r"files\[(?P<n>[0-9]+)\]")


@dataclass(frozen=True)
class Message:
    """An Execute Webhook body: its JSON fields and its files, in ``files[n]`` order,
    each with the description its attachment entry gave (None: none)."""

    fields: Mapping[str, Any]
    files: tuple[tuple[Part, str | None], ...] = ()
    orphans: tuple[str, ...] = ()  # attachment ids with no ``files[n]`` part


def read(request: Request) -> Message:
    """The message of a JSON or multipart body; ``BadRequest`` when it is neither."""
    if not (request.header("Content-Type") or "").lower().startswith("multipart/"):
        return Message(request.fields())
    parts = form(request)
    try:
        fields = json.loads(parts["payload_json"].text) if "payload_json" in parts else {}
    except ValueError:
        raise BadRequest("payload_json is not JSON") from None
    if not isinstance(fields, dict):
        raise BadRequest("payload_json must be a JSON object")
    described = {
        str(entry.get("id")): entry.get("description")
        for entry in fields.get("attachments") or []
        if isinstance(entry, dict)
    }
    files = sorted(
        (
            (int(found["n"]), part)
            for name, part in parts.items()
            if (found := FILE_FIELD.fullmatch(name))
        ),
        key=lambda pair: pair[0],
    )
    orphans = tuple(sorted(set(described) - {str(n) for n, _ in files}))
    carried = tuple((part, _text(described.get(str(n)))) for n, part in files)
    return Message(fields, carried, orphans)


def refusal(message: Message) -> Response | None:
    """Why Discord refuses these attachments, or None."""
    if len(message.files) > MAX_FILES:
        return _invalid("files", "BASE_TYPE_MAX_LENGTH")
    if message.orphans:
        return _invalid("attachments", "ATTACHMENT_NOT_FOUND")
    for part, description in message.files:
        if not part.content or not part.filename:
            return _invalid("files", "BINARY_TYPE_MAX_SIZE")
        if len(part.content) > FILE_BYTES:
            return json_response(413, {"message": "Request entity too large", "code": 40005})
        if description is not None and len(description) > MAX_DESCRIPTION:
            return _invalid("attachments", "BASE_TYPE_MAX_LENGTH")
    return None


def records(state: State, token: str, message: Message) -> tuple[MediaRecord, ...]:
    """The message's files as the media library keeps them (sha256 included)."""
    return tuple(
        uploaded("discord", token, state.ledger.next_id(), part, description)
        for part, description in message.files
    )


def attachment(record: MediaRecord, base_url: str) -> dict[str, Any]:
    """The attachment object a created message lists."""
    found: dict[str, Any] = {
        "id": record.id,
        "filename": record.filename,
        "size": record.size,
        "content_type": record.content_type,
        "url": f"{base_url}/attachments/{record.id}/{record.filename}",
    }
    if record.description is not None:
        found["description"] = record.description
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _invalid(field: str, code: str) -> Response:
    errors = {field: {"_errors": [{"code": code}]}}
    return json_response(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
