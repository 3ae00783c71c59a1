"""The sandbox's X media endpoints (API v2): one-shot and chunked uploads, status polls
and alt text.

``POST /2/media/upload`` (multipart ``media``, ``media_category``) takes a whole file;
``/2/media/upload/initialize``, ``/{id}/append`` (``segment_index``) and ``/{id}/finalize``
take one in chunks, and finalize checks the bytes add up to ``total_bytes``. A GIF or
video (``tweet_gif``/``tweet_video``) stays processing for
``State.media_processing_polls`` polls of ``GET /2/media/upload?command=STATUS``
(``processing_info``: pending, in_progress, then succeeded); an image is ready at once.
``POST /2/media/metadata`` sets the alt text (at most 1,000 characters). Sources:
https://docs.x.com/x-api/media/upload-media,
https://docs.x.com/x-api/media/quickstart/media-upload-chunked,
https://docs.x.com/x-api/media/create-media-metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from publisher.sandbox.media import MediaRecord, digest
from publisher.sandbox.multipart import form
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import BadRequest, Request, Response, json_response
from publisher.sandbox.x import DIALECT, as_x

UPLOAD = "/2/media/upload"
CATEGORIES = ("tweet_image", "tweet_gif", "tweet_video")
PROCESSED = frozenset({"tweet_gif", "tweet_video"})  # processed after the upload
MAX_ALT = 1_000  # X's alt text limit (characters)
EXPIRES = 86_400  # expires_after_secs X reports for an upload
CHECK_AFTER = 1  # check_after_secs the sandbox asks for


def _data(record: MediaRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": record.id,
        "media_key": f"3_{record.id}",
        "size": record.size,
        "expires_after_secs": EXPIRES,
    }
    if record.category in PROCESSED:
        if record.polls_left > 0:
            state = "pending" if record.polls_left > 1 else "in_progress"
            data["processing_info"] = {"state": state, "check_after_secs": CHECK_AFTER}
        else:
            data["processing_info"] = {"state": "succeeded", "progress_percent": 100}
    return data


def _refused(state: State, request: Request) -> Response | None:
    return None if state.token_ok(request.bearer()) else DIALECT.unauthorized()


def upload(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """The one-shot upload of a whole file."""
    refused = _refused(state, request)
    if refused is not None:
        return refused
    parts = form(request)
    media = parts.get("media")
    category = parts["media_category"].text if "media_category" in parts else "tweet_image"
    if media is None or not media.content or category not in CATEGORIES:
        return DIALECT.error(400, "One or more parameters to your request was invalid.")
    record = _new(state, request, category, media.filename, media.content_type)
    record = state.media.update(
        record,
        size=len(media.content),
        sha256=digest(media.content),
        polls_left=_polls(state, category),
    )
    return json_response(200, {"data": _data(record)})


def _new(
    state: State, request: Request, category: str, filename: str | None, content_type: str | None
) -> MediaRecord:
    return state.media.add(
        MediaRecord(
            kind="x",
            token=request.bearer(),
            id=state.ledger.next_id(),
            filename=filename,
            content_type=content_type,
            size=0,
            sha256=digest(b""),
            description=None,
            category=category,
        )
    )


def _polls(state: State, category: str) -> int:
    return state.media_processing_polls if category in PROCESSED else 0


def initialize(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _refused(state, request)
    if refused is not None:
        return refused
    body = request.json()
    total = body.get("total_bytes") if isinstance(body, dict) else None
    category = body.get("media_category", "tweet_image") if isinstance(body, dict) else None
    if not isinstance(total, int) or total < 1 or category not in CATEGORIES:
        return DIALECT.error(400, "One or more parameters to your request was invalid.")
    record = _new(state, request, str(category), None, str(body.get("media_type") or ""))
    record = state.media.update(record, total_bytes=total)
    return json_response(
        200,
        {"data": {"id": record.id, "media_key": f"3_{record.id}", "expires_after_secs": EXPIRES}},
    )


def _in_progress(state: State, request: Request, media_id: str) -> MediaRecord | Response:
    """The chunked upload ``media_id`` of the caller, or the answer refusing the call."""
    refused = _refused(state, request)
    if refused is not None:
        return refused
    record = state.media.find("x", request.bearer(), media_id)
    if record is None or record.total_bytes is None:
        return DIALECT.error(400, "The media id is not an upload in progress.")
    return record


def append(state: State, request: Request, params: Mapping[str, str]) -> Response:
    record = _in_progress(state, request, params["id"])
    if isinstance(record, Response):
        return record
    parts = form(request)
    media, index = parts.get("media"), parts.get("segment_index")
    if media is None or index is None or index.text != str(len(record.chunks)):
        return DIALECT.error(400, "Segments must be appended in order, from segment_index 0.")
    state.media.update(record, chunks=(*record.chunks, media.content))
    return json_response(200, {"data": {"expires_at": EXPIRES}})


def finalize(state: State, request: Request, params: Mapping[str, str]) -> Response:
    record = _in_progress(state, request, params["id"])
    if isinstance(record, Response):
        return record
    content = b"".join(record.chunks)
    if len(content) != record.total_bytes:
        return DIALECT.error(
            400,
            f"File size mismatch: {len(content)} bytes appended, {record.total_bytes} declared.",
        )
    record = state.media.update(
        record,
        total_bytes=None,
        chunks=(),
        size=len(content),
        sha256=digest(content),
        polls_left=_polls(state, record.category or ""),
    )
    return json_response(200, {"data": _data(record)})


def status(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _refused(state, request)
    if refused is not None:
        return refused
    if request.query.get("command") != "STATUS" or "media_id" not in request.query:
        return DIALECT.error(400, "command=STATUS and media_id are required.")
    record = state.media.poll("x", request.bearer(), request.query["media_id"])
    if record is None:
        return DIALECT.error(404, "The media id was not found.")
    return json_response(200, {"data": _data(record)})


def metadata(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _refused(state, request)
    if refused is not None:
        return refused
    alt = _alt_text(request.json())
    record = state.media.find("x", request.bearer(), str(request.json().get("id")))
    if record is None:
        return DIALECT.error(400, "The media id is invalid.")
    if not isinstance(alt, str) or len(alt) > MAX_ALT:
        return DIALECT.error(
            400, f"alt_text.text must be a string of at most {MAX_ALT} characters."
        )
    state.media.update(record, description=alt)
    return json_response(
        200, {"data": {"id": record.id, "associated_metadata": {"alt_text": {"text": alt}}}}
    )


def _alt_text(body: Any) -> Any:
    """``metadata.alt_text.text`` of a metadata body (None where the shape is wrong)."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    found: Any = body
    for name in ("metadata", "alt_text", "text"):
        found = found.get(name) if isinstance(found, dict) else None
    return found


ROUTES: list[Route] = [
    route("POST", UPLOAD, as_x("media", upload)),
    route("GET", UPLOAD, as_x("media", status)),
    route("POST", f"{UPLOAD}/initialize", as_x("media", initialize)),
    route("POST", rf"{UPLOAD}/(?P<id>\d+)/append", as_x("media", append)),
    route("POST", rf"{UPLOAD}/(?P<id>\d+)/finalize", as_x("media", finalize)),
    route("POST", "/2/media/metadata", as_x("media", metadata)),
]
