"""LinkedIn media: register an image, PUT its bytes, read its status until AVAILABLE.

Images API: ``POST /rest/images?action=initializeUpload`` with
``{"initializeUploadRequest": {"owner": <author URN>}}`` answers
``{"value": {"uploadUrl", "image": "urn:li:image:...", "uploadUrlExpiresAt"}}``; the
bytes then go in one ``PUT`` to ``uploadUrl``; ``GET /rest/images/{urn}`` answers the
image with its ``status`` (``WAITING_UPLOAD``, ``PROCESSING``, ``AVAILABLE``,
``PROCESSING_FAILED``). A post names an available image by its URN. Formats JPG, PNG,
GIF (animated up to 250 frames); at most 36,152,320 pixels; a multi-image post carries
two to twenty. Sources:
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api,
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/multiimage-post-api.
The byte limit below is not in LinkedIn's reference; it is the 5 MB that scheduling
services document for LinkedIn images (https://www.ayrshare.com/docs/media-guidelines/linkedin).

As a ``base.MediaUploader``: ``prepare_upload`` is the initializeUpload; its parsed
media id carries the image URN and the upload URL together (``"<urn> <url>"``, neither
holds a space), because ``continue_upload`` needs the URL: it yields the PUT, then a
status GET, whose answer (the last one, the only one read) gives the bare URN the post
uses. A repeated upload is harmless: an image no post names is never shown.

Alt text: LinkedIn takes it on the post (``altText``), not on the image: the create
request carries it (``PublishRequest.media``), so there is no describe step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from publisher.providers import rest
from publisher.providers.base import MediaFile, PreparedCall, Uploaded
from publisher.providers.linkedin_api import headers, split_base, trusted_host
from publisher.providers.media_rule import MB, Kind, MediaRule

# Images only (the Videos API is another flow); twenty per post; alt text at most 4,086
# characters (the Posts API's ``altText``).
MEDIA_RULE = MediaRule(
    max_items=20,
    max_bytes={Kind.IMAGE: 5 * MB, Kind.GIF: 5 * MB},
    max_alt=4_086,
)

READY, FAILED = "AVAILABLE", "PROCESSING_FAILED"
# LinkedIn names no poll interval; images are usually AVAILABLE within seconds.
POLL_SECONDS = 2.0
_SEPARATOR = " "  # between the URN and the upload URL in the first answer's media id


class LinkedInUploader:
    """``base.MediaUploader`` for LinkedIn images: pure, stateless."""

    def describes(self, kind: str) -> bool:
        """Never: LinkedIn's alt text belongs to the post, not the image."""
        return False

    def prepare_upload(self, base_url: str, token: str, file: MediaFile) -> PreparedCall:
        """``POST /rest/images?action=initializeUpload`` owned by the account's author."""
        root, author = split_base(base_url)
        return PreparedCall(
            method="POST",
            url=f"{root}/rest/images?action=initializeUpload",
            headers=headers(token),
            json={"initializeUploadRequest": {"owner": author}},
        )

    def continue_upload(
        self, base_url: str, token: str, file: MediaFile, media_id: str
    ) -> Iterator[PreparedCall]:
        """The PUT of the bytes to the upload URL (with the token only on LinkedIn's
        hosts), then the image's status."""
        urn, _, upload_url = media_id.partition(_SEPARATOR)
        put_headers = {"Content-Type": file.content_type}
        if trusted_host(upload_url, base_url):
            put_headers.update(rest.bearer(token))
        yield PreparedCall(method="PUT", url=upload_url, headers=put_headers, data=file.content)
        yield self.prepare_poll(base_url, token, urn)

    def parse_upload(self, status: int, body: Any) -> Uploaded | None:
        """From initializeUpload: the URN and upload URL, not ready; from a status
        answer: the image's state (``parse_poll``); None for anything else."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        value = body.get("value")
        if isinstance(value, Mapping):
            urn, url = value.get("image"), value.get("uploadUrl")
            if not _word(urn) or not _word(url):
                return None
            return Uploaded(f"{urn}{_SEPARATOR}{url}", ready=False)
        return _state(body)

    def prepare_describe(self, base_url: str, token: str, media_id: str, alt: str) -> PreparedCall:
        """Unused (``describes`` is never true): the image's status."""
        return self.prepare_poll(base_url, token, media_id)

    def prepare_poll(self, base_url: str, token: str, media_id: str) -> PreparedCall:
        """``GET /rest/images/{urn}``."""
        root, _ = split_base(base_url)
        url = f"{root}/rest/images/{quote(media_id, safe='')}"
        return PreparedCall(method="GET", url=url, headers=headers(token))

    def parse_poll(self, status: int, body: Any, media_id: str) -> Uploaded | None:
        """Ready (``AVAILABLE``), failed (``PROCESSING_FAILED``), else still processing."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        return _state(body, media_id)


UPLOADER = LinkedInUploader()


def _word(value: object) -> bool:
    """A non-empty string without the separator."""
    return isinstance(value, str) and bool(value) and _SEPARATOR not in value


def _state(body: Mapping[str, Any], media_id: str | None = None) -> Uploaded | None:
    urn = body.get("id", media_id)
    if not _word(urn):
        return None
    state = body.get("status")
    if state == READY:
        return Uploaded(str(urn), ready=True)
    if state == FAILED:
        return Uploaded(str(urn), ready=False, failed="LinkedIn could not process the image")
    return Uploaded(str(urn), ready=False, wait=POLL_SECONDS)
