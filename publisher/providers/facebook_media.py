"""Facebook Pages photos: each image uploaded unpublished, then named by the Page post.

``POST /me/photos`` (a Page token's ``/me`` is the Page) takes the bytes as multipart
``source`` with ``published=false`` and answers ``{"id": <photo id>}``: a photo stored on
the Page but in no story. The post is then ``POST /me/feed`` with ``attached_media``:
``[{"media_fbid": <photo id>}, ...]``, one story with every photo. The photo is ready
once the upload answers (no processing to wait for). Sources:
https://developers.facebook.com/docs/graph-api/reference/page/photos (the edge),
https://developers.facebook.com/docs/graph-api/reference/photo ("Creating": ``published``,
``alt_text_custom``; "Animated photos are not supported"), https://developers.facebook.com/
docs/graph-api/photo-uploads ("publish a multi-photo story": unpublished photos, then the
feed with their ids), https://developers.facebook.com/docs/pages-api/posts.

publisher's files are not public (its own URLs are behind its API key), so the bytes are
uploaded rather than passed by ``url``. An upload that is repeated (a worker killed after
Graph stored the photo but before publisher recorded its id) publishes nothing: an
unpublished photo no post attaches is never shown, so uploading again is safe.

Alt text travels with the upload as ``alt_text_custom`` (the Photo reference's creation
parameter, "accessible alternative description for an image"): no describe step.

Limits: Graph refuses a larger upload with "Photos should be less than 4 MB and saved as
JPG, PNG, GIF, TIFF, HEIF or WebP files" (its error message, as clients quote it; the
Photo reference's own figure, 10 MB, is the looser one), and shows no animated photo, so
publisher takes still images up to 4 MB (an animated GIF is refused at creation rather
than published frozen). Graph names no count
for ``attached_media`` and no alt-text length: publisher keeps to ``MAX_PHOTOS`` and
``MAX_ALT`` (named below) so that a post stays one request Graph is known to take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from publisher.providers import rest
from publisher.providers.base import MediaFile, PreparedCall, Uploaded
from publisher.providers.media_rule import MB, Kind, MediaRule

UPLOAD_PATH = "/me/photos"
# Graph's upload error: "Photos should be less than 4 MB".
MAX_IMAGE_BYTES = 4 * MB
# Graph names no limit on attached_media; ten photos is what scheduling tools document
# for a Page post, and keeps the create (and its lookup) small.
MAX_PHOTOS = 10
# Graph names no alt-text limit; publisher keeps X's 1,000 characters, the shortest of
# the networks it serves, so a long text is refused at creation rather than cut.
MAX_ALT = 1_000

MEDIA_RULE = MediaRule(
    max_items=MAX_PHOTOS,
    max_bytes={Kind.IMAGE: MAX_IMAGE_BYTES},
    max_alt=MAX_ALT,
)


class FacebookUploader:
    """``base.MediaUploader`` for Page photos: pure, stateless; one request per photo."""

    def describes(self, kind: str) -> bool:
        """Never: the upload carries the alt text (``alt_text_custom``)."""
        return False

    def prepare_upload(self, base_url: str, token: str, file: MediaFile) -> PreparedCall:
        """``POST /me/photos`` multipart: ``source`` (the bytes), ``published=false``, and
        ``alt_text_custom`` when the file has alt text. The token in the header only."""
        fields: dict[str, Any] = {
            "source": (file.filename, file.content, file.content_type),
            "published": "false",
        }
        if file.alt:
            fields["alt_text_custom"] = file.alt
        return rest.multipart(f"{rest.root(base_url)}{UPLOAD_PATH}", token, fields)

    def continue_upload(
        self, base_url: str, token: str, file: MediaFile, media_id: str
    ) -> tuple[PreparedCall, ...]:
        """Nothing: one request uploads the whole photo."""
        return ()

    def parse_upload(self, status: int, body: Any) -> Uploaded | None:
        """The photo's ``id``, ready at once; None without one."""
        return _photo(status, body)

    def prepare_describe(self, base_url: str, token: str, media_id: str, alt: str) -> PreparedCall:
        """Unused (``describes`` is never true): the photo itself."""
        return self.prepare_poll(base_url, token, media_id)

    def prepare_poll(self, base_url: str, token: str, media_id: str) -> PreparedCall:
        """``GET /{photo-id}?fields=id`` (never needed: an upload answers ready)."""
        url = f"{rest.root(base_url)}/{quote(media_id, safe='')}?fields=id"
        return PreparedCall(method="GET", url=url, headers=rest.bearer(token))

    def parse_poll(self, status: int, body: Any, media_id: str) -> Uploaded | None:
        """Ready when Graph answers the photo; None otherwise."""
        return _photo(status, body, media_id)


UPLOADER = FacebookUploader()


def _photo(status: int, body: Any, media_id: str | None = None) -> Uploaded | None:
    if not 200 <= status < 300 or not isinstance(body, Mapping):
        return None
    found = body.get("id", media_id)
    if not isinstance(found, str | int) or isinstance(found, bool) or found == "":
        return None
    return Uploaded(str(found), ready=True)
