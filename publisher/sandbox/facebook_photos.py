"""The sandbox's Facebook Page photos: ``POST /me/photos`` uploads one unpublished photo,
and a feed post attaches such photos by id (``attached_media``).

An upload is multipart: the bytes in ``source`` (an image, at most 4 MB, else Graph's
code 324 or 100), ``published=false`` (the only kind this stand-in serves: a published
photo would be a post of its own), and ``alt_text_custom``; it answers ``{"id"}``. A feed
post names photos as ``attached_media: [{"media_fbid": id}]`` (a JSON body) or the same
list as a JSON string (a form); a photo id the Page never issued to that token, or one
another post already attaches, is refused with code 100 in both modes, as Graph refuses
it. A post shows its photos in ``attachments`` (one ``photo``, or an ``album`` whose
``subattachments`` are the photos), each with the photo's id as its ``target``. Sources:
https://developers.facebook.com/docs/graph-api/reference/page/photos,
https://developers.facebook.com/docs/graph-api/reference/photo,
https://developers.facebook.com/docs/graph-api/photo-uploads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from publisher.sandbox.media import MediaRecord, uploaded
from publisher.sandbox.multipart import form
from publisher.sandbox.state import State
from publisher.sandbox.wire import Request

KIND = "facebook"
MAX_BYTES = 4 * 1024 * 1024  # Graph's upload error: "less than 4 MB"
INVALID_FILE = 324  # Graph: "Requires upload file" / missing or invalid image file
INVALID_PARAMETER = 100
TOO_BIG = (  # Graph's own words for a photo it will not take
    "Your photos couldn't be uploaded. Photos should be less than 4 MB and saved as JPG, "
    "PNG, GIF, TIFF, HEIF or WebP files."
)


def upload(state: State, request: Request) -> MediaRecord | tuple[int, str]:
    """``POST /me/photos``: the unpublished photo stored, or Graph's (code, message) for
    a refused one; the caller has checked the token and words the answer."""
    parts = form(request)
    source = parts.get("source")
    if source is None or not source.content:
        return INVALID_FILE, "(#324) Requires upload file"
    if not (source.content_type or "").startswith("image/"):
        return INVALID_FILE, "(#324) Missing or invalid image file"
    if len(source.content) > MAX_BYTES:
        return INVALID_PARAMETER, TOO_BIG
    if "published" not in parts or parts["published"].text != "false":
        return INVALID_PARAMETER, "(#100) sandbox: unpublished photos only"
    alt = parts["alt_text_custom"].text if "alt_text_custom" in parts else None
    media_id = state.ledger.next_id()
    return state.media.add(uploaded(KIND, request.bearer(), media_id, source, alt))


def attached(
    state: State, token: str | None, fields: Mapping[str, Any]
) -> tuple[tuple[MediaRecord, ...], str | None]:
    """The photos a feed post attaches, or why Graph refuses them."""
    ids = _ids(fields.get("attached_media"))
    if ids is None:
        return (), "(#100) attached_media must be a list of {media_fbid}"
    found, missing = state.media.attach(KIND, token, ids, strict=True)
    if missing is not None:
        return (), f"(#100) {missing}"
    used = {m.id for c in state.ledger.creates if c.kind == KIND for m in c.media}
    again = [m.id for m in found if m.id in used]
    if again:
        return (), f"(#100) photo {again[0]} is already attached to a post"
    return found, None


def attachments(photos: Sequence[MediaRecord]) -> dict[str, Any]:
    """A post's ``attachments`` field for its photos (empty when it has none)."""
    items = [{"type": "photo", "target": {"id": p.id}} for p in photos]
    if len(items) <= 1:
        return {"attachments": {"data": items}} if items else {}
    album = {"type": "album", "target": {"id": f"album-{photos[0].id}"}}
    return {"attachments": {"data": [{**album, "subattachments": {"data": items}}]}}


def _ids(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list):
        return None
    ids = [item.get("media_fbid") if isinstance(item, Mapping) else None for item in value]
    if not all(isinstance(i, str | int) and not isinstance(i, bool) for i in ids):
        return None
    return [str(i) for i in ids]
