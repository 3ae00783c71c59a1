"""Bluesky images: ``com.atproto.repo.uploadBlob``, then an ``app.bsky.embed.images``
embed on the post record.

- **Upload**: ``POST {pds}/xrpc/com.atproto.repo.uploadBlob`` with the raw bytes as the
  body and their MIME type as ``Content-Type``, the session's access JWT as the bearer;
  200 answers ``{"blob": {"$type": "blob", "ref": {"$link": <cid>}, "mimeType", "size"}}``
  (https://docs.bsky.app/docs/api/com-atproto-repo-upload-blob,
  https://atproto.com/guides/images-and-video). The blob is ready at once: no polling.
  A blob no record names stays in temporary storage, never shown, so a repeated upload
  (after an ambiguous one) is harmless; restrictions (type, size) are checked when a
  record names it. A PDS may delete an unreferenced blob after a while
  (https://atproto.com/specs/blob; the reference PDS does not yet,
  bluesky-social/atproto#2051): a create long after its uploads (a post held for hours)
  may then be refused ``InvalidRequest`` "Could not find blob", which cancels the post
  naming the refusal; it is never published without its images.
- **The step's external id** carries the whole blob ref the record needs:
  ``"{cid} {mimeType} {size}"`` (none holds a space), so the create can be built from the
  confirmed steps alone, after a crash as well.
- **The embed**: ``{"$type": "app.bsky.embed.images", "images": [{"alt", "image": <blob>}]}``,
  at most 4 images, each ``image/*`` of at most 1,000,000 bytes, ``alt`` required (empty
  allowed) (lexicons/app/bsky/embed/images.json in
  https://github.com/bluesky-social/atproto; https://docs.bsky.app/docs/advanced-guides/posts,
  "Images embeds").
- **Limits checked at creation** (``MEDIA_RULE``): four still images of at most
  1,000,000 bytes each; alt text at most 1,000 characters, the Bluesky app's limit
  (``MAX_ALT_TEXT`` in bluesky-social/social-app ``src/lib/constants.ts``; the lexicon sets
  none). GIFs would show as stills and videos need ``app.bsky.embed.video`` (another
  upload flow, through the video service): both are refused at creation for now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from publisher.providers import rest
from publisher.providers.base import MediaFile, PreparedCall, Uploaded
from publisher.providers.media_rule import Kind, MediaRule

UPLOAD_PATH = "/xrpc/com.atproto.repo.uploadBlob"
IMAGES_EMBED = "app.bsky.embed.images"
MAX_IMAGE_BYTES = 1_000_000  # "maxSize": 1000000 on the embed's image blob (decimal MB)

MEDIA_RULE = MediaRule(max_items=4, max_bytes={Kind.IMAGE: MAX_IMAGE_BYTES}, max_alt=1_000)

_SEPARATOR = " "  # between the cid, the MIME type and the size in a media id


class BlueskyUploader:
    """``base.MediaUploader`` for Bluesky blobs: pure, stateless; one request per file,
    ready at once, the alt text on the post's embed (no describe step)."""

    def describes(self, kind: str) -> bool:
        """Never: the alt text goes on the record's embed."""
        return False

    def prepare_upload(self, base_url: str, token: str, file: MediaFile) -> PreparedCall:
        """``uploadBlob`` with the file's bytes and sniffed type."""
        return PreparedCall(
            method="POST",
            url=f"{rest.root(base_url)}{UPLOAD_PATH}",
            headers={**rest.bearer(token), "Content-Type": file.content_type},
            data=file.content,
        )

    def continue_upload(
        self, base_url: str, token: str, file: MediaFile, media_id: str
    ) -> tuple[PreparedCall, ...]:
        """Nothing: one request uploads the whole file."""
        return ()

    def parse_upload(self, status: int, body: Any) -> Uploaded | None:
        """The blob ref as the media id (``"{cid} {mimeType} {size}"``), ready; None
        when the answer holds no usable blob."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        ref = blob_ref(body.get("blob"))
        return None if ref is None else Uploaded(ref, ready=True)

    def prepare_describe(self, base_url: str, token: str, media_id: str, alt: str) -> PreparedCall:
        """Unused (``describes`` is never true)."""
        raise NotImplementedError("Bluesky takes alt text on the post's embed")

    def prepare_poll(self, base_url: str, token: str, media_id: str) -> PreparedCall:
        """Unused: a blob is ready when uploadBlob answers."""
        raise NotImplementedError("a Bluesky blob needs no polling")

    def parse_poll(self, status: int, body: Any, media_id: str) -> Uploaded | None:
        """A blob is always ready."""
        return Uploaded(media_id, ready=True)


UPLOADER = BlueskyUploader()


def blob_ref(blob: object) -> str | None:
    """An uploadBlob answer's ``blob`` as a media id, or None when it is not one."""
    if not isinstance(blob, Mapping):
        return None
    link = blob.get("ref")
    cid = link.get("$link") if isinstance(link, Mapping) else None
    mime, size = blob.get("mimeType"), blob.get("size")
    words = (cid, mime)
    if not all(isinstance(w, str) and w and _SEPARATOR not in w for w in words):
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    return f"{cid}{_SEPARATOR}{mime}{_SEPARATOR}{size}"


def blob(media_id: str) -> dict[str, Any]:
    """The record's ``blob`` for a media id ``blob_ref`` made."""
    cid, mime, size = media_id.split(_SEPARATOR)
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": int(size)}


def images_embed(
    media_ids: Sequence[str], media: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The part's ``app.bsky.embed.images`` (alt texts from ``media``, in the same
    order; none given is ""), or None without images."""
    if not media_ids:
        return None
    alts = [item.get("alt") for item in media] + [None] * len(media_ids)
    images = [
        {"alt": alt if isinstance(alt, str) else "", "image": blob(media_id)}
        for media_id, alt in zip(media_ids, alts, strict=False)
    ]
    return {"$type": IMAGES_EMBED, "images": images}
