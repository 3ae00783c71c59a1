"""The sandbox PDS's blobs: what ``com.atproto.repo.uploadBlob`` keeps and the checks a post's
``app.bsky.embed.images`` meets when a record names its blobs.

An upload stores the raw body under a CID derived from its bytes, with the request's
``Content-Type`` as its MIME type, for the session's DID, and answers the blob ref
(https://docs.bsky.app/docs/api/com-atproto-repo-upload-blob). Restrictions are checked
when a record names the blob, as on a PDS: at most 4 images, each ``image/*`` of at
most 1,000,000 bytes with an ``alt`` (lexicons/app/bsky/embed/images.json); a refusal
is 400 ``InvalidRequest``. Strict, a blob ref this DID never uploaded, or whose MIME
type or size differ from the upload's, refuses the record ("Could not find blob");
helpful, an unknown ref is left out and the rest are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from publisher.sandbox.media import MediaRecord, digest
from publisher.sandbox.state import State

KIND = "bluesky"
IMAGES = "app.bsky.embed.images"
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1_000_000


def store_blob(state: State, did: str, content: bytes, mime: str) -> dict[str, Any] | None:
    """Keep an uploaded blob for ``did``: its ref, as uploadBlob answers it; None when
    the upload has no bytes or no type."""
    if not content or not mime or mime == "*/*":
        return None
    cid = "bafkrei" + digest(content)[:52]
    state.media.add(MediaRecord(KIND, did, cid, None, mime, len(content), digest(content), None))
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(content)}


def embedded(
    state: State, did: str, record: Mapping[str, Any]
) -> tuple[tuple[MediaRecord, ...], str | None]:
    """The uploads a post's images embed names, or why the PDS refuses the record."""
    embed = record.get("embed")
    if embed is None:
        return (), None
    images = embed.get("images") if isinstance(embed, Mapping) else None
    if (
        not isinstance(embed, Mapping)
        or embed.get("$type") != IMAGES
        or not isinstance(images, list)
    ):
        return (), f"embed must be {IMAGES} with images"
    if not 1 <= len(images) <= MAX_IMAGES:
        return (), f"embed/images must have 1 to {MAX_IMAGES} items"
    found: list[MediaRecord] = []
    for index, image in enumerate(images):
        upload, refused = _image(state, did, image, f"embed/images/{index}")
        if refused is not None:
            return (), refused
        if upload is not None:
            found.append(upload)
    return tuple(found), None


def _image(
    state: State, did: str, image: object, where: str
) -> tuple[MediaRecord | None, str | None]:
    if not isinstance(image, Mapping) or not isinstance(image.get("alt"), str):
        return None, f"{where} must have an alt text"
    blob = image.get("image")
    link = blob.get("ref") if isinstance(blob, Mapping) else None
    if not isinstance(blob, Mapping) or not isinstance(link, Mapping):
        return None, f"{where}/image must be a blob"
    mime, size = str(blob.get("mimeType") or ""), blob.get("size")
    if not mime.startswith("image/"):
        return None, f"{where}/image has mimeType {mime!r}, not image/*"
    if not isinstance(size, int) or size > MAX_IMAGE_BYTES:
        return None, f"{where}/image is larger than {MAX_IMAGE_BYTES} bytes"
    upload = state.media.find(KIND, did, str(link.get("$link")))
    known = upload is not None and (upload.content_type, upload.size) == (mime, size)
    if not known and state.is_strict(KIND):
        return None, f"Could not find blob: {link.get('$link')}"
    return (upload if known else None), None
