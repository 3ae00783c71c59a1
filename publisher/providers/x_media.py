"""X media: upload a file (at once, or in chunks), poll its processing, set its alt text.

API v2 (OAuth 2.0 user token): an image goes in one ``POST /2/media/upload`` (multipart
``media`` and ``media_category``); a GIF or video goes in chunks, ``POST
/2/media/upload/initialize`` (JSON ``media_type``, ``total_bytes``, ``media_category``),
``POST /2/media/upload/{id}/append`` per chunk (multipart ``media``, ``segment_index``)
and ``POST /2/media/upload/{id}/finalize``. An answer (``data``) may carry
``processing_info`` (``state`` pending -> in_progress -> succeeded | failed, with
``check_after_secs``): then ``GET /2/media/upload?command=STATUS&media_id=`` until it
succeeded; a post may name the media only then. Alt text (at most 1,000 characters) is
set with ``POST /2/media/metadata`` (``{"id", "metadata": {"alt_text": {"text"}}}``).
A post names media in ``media.media_ids``. Sources:
https://docs.x.com/x-api/media/upload-media,
https://docs.x.com/x-api/media/quickstart/media-upload-chunked,
https://docs.x.com/x-api/media/get-media-upload-status,
https://docs.x.com/x-api/media/create-media-metadata,
https://docs.x.com/x-api/media/quickstart/best-practices (categories, limits).

A repeated upload is harmless: media no post names expires unused
(``expires_after_secs``).

``XUploader`` (the ``base.MediaUploader`` the engine's steps use) sends an image in one
upload, a GIF or video in chunks; an upload cut short starts again from its first request
at the next attempt (a new media id; the unused one expires).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from publisher.providers import rest
from publisher.providers.base import MediaFile, PreparedCall, Uploaded
from publisher.providers.media_rule import Kind

UPLOAD_PATH = "/2/media/upload"
# X's media categories for a post's media, by kind.
CATEGORIES = {Kind.IMAGE: "tweet_image", Kind.GIF: "tweet_gif", Kind.VIDEO: "tweet_video"}
# Kinds X processes asynchronously when they come in chunks.
CHUNKED = frozenset({Kind.GIF, Kind.VIDEO})
# The kinds whose alt text X's metadata endpoint documents.
DESCRIBED = frozenset({Kind.IMAGE, Kind.GIF})
# One APPEND's bytes: X takes chunks up to 5 MB; 4 MiB stays under it with room.
CHUNK_BYTES = 4 * 1024 * 1024
# When X gives no check_after_secs, poll again after this long (its examples use 5-10 s).
DEFAULT_CHECK_AFTER = 5.0
# processing_info.state: pending -> in_progress -> succeeded | failed.
READY_STATE, FAILED_STATE = "succeeded", "failed"


class XUploader:
    """``base.MediaUploader`` for X: pure, stateless; alt text is a request of its own."""

    def describes(self, kind: str) -> bool:
        """Images and GIFs: X documents alt text (``alt_text``) for those, not videos."""
        return kind in DESCRIBED

    def prepare_upload(self, base_url: str, token: str, file: MediaFile) -> PreparedCall:
        """One ``POST /2/media/upload`` with a whole image, its category and type; a GIF
        or video starts a chunked upload (``prepare_initialize``)."""
        if chunked(file):
            return prepare_initialize(base_url, token, file)
        return rest.multipart(
            f"{rest.root(base_url)}{UPLOAD_PATH}",
            token,
            {
                "media": (file.filename, file.content, file.content_type),
                "media_category": CATEGORIES[Kind(file.kind)],
                "media_type": file.content_type,
            },
        )

    def continue_upload(
        self, base_url: str, token: str, file: MediaFile, media_id: str
    ) -> Iterator[PreparedCall]:
        """A chunked upload's appends, then its finalize; nothing for an image."""
        if chunked(file):
            yield from prepare_appends(base_url, token, media_id, file)
            yield prepare_finalize(base_url, token, media_id)

    def parse_upload(self, status: int, body: Any) -> Uploaded | None:
        """The media id and its state from the ``data`` of a 2xx answer to an upload,
        finalize or status call: ready unless ``processing_info`` says otherwise; None
        when there is no ``data.id``."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        data = body.get("data")
        if not isinstance(data, Mapping):
            return None
        media_id = data.get("id") or data.get("media_id_string") or data.get("media_id")
        if media_id is None or media_id == "" or isinstance(media_id, bool):
            return None
        return _processing(str(media_id), data.get("processing_info"))

    def prepare_describe(self, base_url: str, token: str, media_id: str, alt: str) -> PreparedCall:
        """``POST /2/media/metadata`` setting the media's alt text (at most 1,000
        characters: checked when the post was created)."""
        return PreparedCall(
            method="POST",
            url=f"{rest.root(base_url)}/2/media/metadata",
            headers=rest.bearer(token),
            json={"id": media_id, "metadata": {"alt_text": {"text": alt}}},
        )

    def prepare_poll(self, base_url: str, token: str, media_id: str) -> PreparedCall:
        """``GET /2/media/upload?command=STATUS&media_id=...``."""
        query = f"command=STATUS&media_id={quote(media_id, safe='')}"
        return PreparedCall(
            method="GET",
            url=f"{rest.root(base_url)}{UPLOAD_PATH}?{query}",
            headers=rest.bearer(token),
        )

    def parse_poll(self, status: int, body: Any, media_id: str) -> Uploaded | None:
        """The state in a status answer (as ``parse_upload``)."""
        return self.parse_upload(status, body)


UPLOADER = XUploader()


def chunked(file: MediaFile) -> bool:
    """Whether X wants ``file`` in chunks (initialize, append..., finalize)."""
    return file.kind in CHUNKED


def prepare_initialize(base_url: str, token: str, file: MediaFile) -> PreparedCall:
    """``POST /2/media/upload/initialize``: the chunked upload's id comes back
    (``parse_upload``)."""
    return PreparedCall(
        method="POST",
        url=f"{rest.root(base_url)}{UPLOAD_PATH}/initialize",
        headers=rest.bearer(token),
        json={
            "media_type": file.content_type,
            "total_bytes": len(file.content),
            "media_category": CATEGORIES[Kind(file.kind)],
        },
    )


def prepare_appends(
    base_url: str, token: str, media_id: str, file: MediaFile
) -> Iterator[PreparedCall]:
    """``POST /2/media/upload/{id}/append`` for each ``CHUNK_BYTES`` of the file, in order."""
    url = f"{rest.root(base_url)}{UPLOAD_PATH}/{quote(media_id, safe='')}/append"
    for index, start in enumerate(range(0, len(file.content), CHUNK_BYTES)):
        chunk = file.content[start : start + CHUNK_BYTES]
        media = (file.filename, chunk, "application/octet-stream")
        yield rest.multipart(url, token, {"media": media, "segment_index": str(index)})


def prepare_finalize(base_url: str, token: str, media_id: str) -> PreparedCall:
    """``POST /2/media/upload/{id}/finalize``: its answer may carry ``processing_info``
    (``parse_upload``)."""
    return PreparedCall(
        method="POST",
        url=f"{rest.root(base_url)}{UPLOAD_PATH}/{quote(media_id, safe='')}/finalize",
        headers=rest.bearer(token),
    )


def _processing(media_id: str, info: Any) -> Uploaded:
    if not isinstance(info, Mapping) or info.get("state") == READY_STATE:
        return Uploaded(media_id, ready=True)
    if info.get("state") == FAILED_STATE:
        error = info.get("error")
        message = error.get("message") if isinstance(error, Mapping) else None
        return Uploaded(media_id, ready=False, failed=str(message or "processing failed"))
    after = info.get("check_after_secs")
    wait = float(after) if isinstance(after, int | float) and not isinstance(after, bool) else None
    return Uploaded(media_id, ready=False, wait=wait or DEFAULT_CHECK_AFTER)
