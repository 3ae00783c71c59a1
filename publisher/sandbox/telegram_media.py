"""The sandbox's Telegram media methods: ``sendPhoto``, ``sendVideo``, ``sendAnimation``
and ``sendMediaGroup``, each a ``multipart/form-data`` request carrying its files.

As the Bot API (https://core.telegram.org/bots/api#sendphoto, #sendmediagroup,
#inputfile, #sending-files): the file is the part named by the method's field (``photo``,
``video``, ``animation``); an album's ``media`` is a JSON array of 2-10 ``InputMedia``
(``photo`` or ``video``), each naming its file by ``attach://<part name>``; the caption
is at most 1,024 characters (UTF-16 code units here); a photo is at most 10 MB. A
refusal is a 400 (413 for a file too big) and creates nothing. An album answers the
array of messages it sent; the ledger keeps it as one create (the caption as its text,
the files with their sha256 as its media) under the first message's id, so a later part
replies to it as to any message. Chat failures, replies and fault markers work as for
``sendMessage`` (``sandbox.telegram``); strict and helpful modes are alike (every
create creates).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from publisher.sandbox.faults import with_faults
from publisher.sandbox.media import MediaRecord, uploaded
from publisher.sandbox.multipart import Part, form
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.telegram import (
    CHAT_FAILURES,
    DIALECT,
    SEND,
    failure,
    reply_refusal,
    utf16_length,
)
from publisher.sandbox.wire import BadRequest, Request, Response, json_response

MAX_CAPTION = 1024  # "0-1024 characters after entities parsing"
PHOTO_BYTES = 10 * 1000 * 1000  # "10 MB max size for photos"
ALBUM_SIZES = range(2, 11)  # "must include 2-10 items"
# The field each one-file method reads its file from.
FIELDS: Mapping[str, str] = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendAnimation": "animation",
}
ATTACH = "attach://"


def send_file(state: State, request: Request, params: Mapping[str, str]) -> Response:
    method = params["method"]
    parts = form(request)
    file = parts.get(FIELDS[method])
    found = [(FIELDS[method], file)] if file is not None else []
    caption = parts["caption"].text if "caption" in parts else ""
    return _send(state, request, params, parts, found, caption)


def send_media_group(state: State, request: Request, params: Mapping[str, str]) -> Response:
    parts = form(request)
    media = _json(parts["media"]) if "media" in parts else None
    if not isinstance(media, list) or len(media) not in ALBUM_SIZES:
        return failure(400, "Bad Request: media must include 2-10 items")
    found: list[tuple[str, Part | None]] = []
    for item in media:
        kind = item.get("type") if isinstance(item, dict) else None
        name = str(item.get("media", "")) if isinstance(item, dict) else ""
        if kind not in ("photo", "video") or not name.startswith(ATTACH):
            return failure(400, "Bad Request: wrong media in the album")
        found.append((str(kind), parts.get(name[len(ATTACH) :])))
    caption = str(media[0].get("caption") or "")
    return _send(state, request, params, parts, found, caption, album=True)


def _send(
    state: State,
    request: Request,
    params: Mapping[str, str],
    parts: Mapping[str, Part],
    files: Sequence[tuple[str, Part | None]],
    caption: str,
    album: bool = False,
) -> Response:
    token = params["token"]
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    chat = parts["chat_id"].text if "chat_id" in parts else ""
    path = f"/{chat}{SEND}"  # one timeline per chat, shared with sendMessage
    reply = _json(parts["reply_parameters"]) if "reply_parameters" in parts else None

    def create() -> Response:
        if chat in CHAT_FAILURES:
            return failure(*CHAT_FAILURES[chat])
        refused = _file_refusal(files, caption) or reply_refusal(state, token, path, reply)
        if refused is not None:
            return refused
        records = tuple(_record(state, token, part) for _, part in files if part is not None)
        extra = [state.ledger.next_id() for _ in files[1:]] if album else []
        kinds = [kind for kind, _ in files]

        def build(post_id: str, at: datetime) -> dict[str, Any]:
            ids = [post_id, *extra]
            sent = [
                _message(chat, int(i), at, kind, caption if n == 0 else "", album)
                for n, (i, kind) in enumerate(zip(ids, kinds, strict=True))
            ]
            return {"ok": True, "result": sent if album else sent[0]}

        _, payload = state.ledger.create(
            kind="telegram",
            path=path,
            token=token,
            text=caption,
            key=None,
            build=build,
            media=records,
        )
        return json_response(200, payload)

    return with_faults(state.faults, state.slow_seconds, DIALECT, path, caption, None, create)


def _file_refusal(files: Sequence[tuple[str, Part | None]], caption: str) -> Response | None:
    """Why Telegram refuses these files or this caption, or None."""
    if utf16_length(caption) > MAX_CAPTION:
        return failure(400, "Bad Request: message caption is too long")
    for kind, part in files:
        if part is None or not part.filename:
            return failure(400, "Bad Request: there is no file in the request")
        if not part.content:
            return failure(400, "Bad Request: file must be non-empty")
        if kind == "photo" and len(part.content) > PHOTO_BYTES:
            return failure(413, "Request Entity Too Large")
    if not files:
        return failure(400, "Bad Request: there is no file in the request")
    return None


def _json(part: Part) -> Any:
    """A JSON-serialised field; a 400 (``BadRequest``) when it is not JSON."""
    try:
        return json.loads(part.text)
    except ValueError:
        raise BadRequest(f"{part.name} is not JSON") from None


def _record(state: State, token: str, part: Part) -> MediaRecord:
    return uploaded("telegram", token, state.ledger.next_id(), part, None)  # no alt text


def _message(
    chat: str, message_id: int, at: datetime, kind: str, caption: str, album: bool
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(at.timestamp()),
        "chat": {"id": chat, "type": "channel"},
        kind: {"file_id": f"sandbox-{message_id}"},
    }
    if caption:
        message["caption"] = caption
    if album:
        message["media_group_id"] = "sandbox-album"
    return message


ROUTES: list[Route] = [
    route("POST", r"/bot(?P<token>[^/]+)/(?P<method>sendPhoto|sendVideo|sendAnimation)", send_file),
    route("POST", r"/bot(?P<token>[^/]+)/sendMediaGroup", send_media_group),
]
