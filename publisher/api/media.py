"""The ``/v1/media`` routes: upload a media file (or name one by URL), read it back.

``POST /v1/media`` takes a multipart upload (field ``file``, optional ``alt`` and
``account_id``) or JSON ``{"url", "alt"?, "account_id"?}`` and answers 201 with the
media's metadata; a post then names it in ``media: [{"id", "alt"?}]``. Uploads have their
own body bound (``upload_bound``: ``PUBLISHER_MEDIA_MAX_BYTES`` plus the multipart
envelope), checked by ``limits.BodyLimit`` while the body arrives.
``GET /v1/media/{id}/content`` serves an uploaded file's bytes, behind the API key like
every route (webhook receivers fetch media with it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from publisher.api.context import Context, context
from publisher.core import blobs, db, service
from publisher.core.blobs import BlobStore
from publisher.core.models import MAX_ID, Media
from publisher.core.settings import Settings
from publisher.errors import InvalidInput, NotFound

router = APIRouter(prefix="/v1")
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
UPLOAD_PATH = "/v1/media"
# What a multipart body adds around the file: boundaries, part headers, alt text (at most
# 10,000 characters, 40 KB in UTF-8) and account id. The file's own bound is checked
# exactly once it is read.
MULTIPART_ENVELOPE = 64 * 1024
# Form fields a media upload has (file, alt, account_id): more is not an upload.
MAX_FORM_FIELDS = 8


def upload_bound(settings: Settings) -> dict[str, int]:
    """The body bound of the upload route, for ``limits.BodyLimit(per_path=...)``."""
    return {UPLOAD_PATH: settings.media_max_bytes + MULTIPART_ENVELOPE}


class MediaUrlIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://cdn.example/cat.jpg", "alt": "A cat on a keyboard"}]
        },
    )

    url: str = Field(min_length=1, max_length=2000)
    alt: str | None = Field(default=None, max_length=10_000)
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID, strict=True)


class MediaOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "type": "image",
                    "content_type": "image/png",
                    "size": 48213,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "alt": "A cat on a keyboard",
                    "source": "upload",
                    "url": None,
                    "filename": "cat.png",
                    "account_id": 1,
                    "created_at": "2030-01-01T09:00:00Z",
                }
            ]
        }
    )

    id: int
    type: str | None  # image, gif or video; None for a URL not fetched yet
    content_type: str | None
    size: int | None
    sha256: str | None
    alt: str
    source: str  # upload or url
    url: str | None
    filename: str | None
    account_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, media: Media) -> MediaOut:
        return cls(
            id=media.id,
            type=media.kind,
            content_type=media.content_type,
            size=media.size,
            sha256=media.sha256,
            alt=media.alt,
            source=media.source,
            url=media.url,
            filename=media.filename,
            account_id=media.account_id,
            created_at=media.created_at,
        )


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "alt": {"type": "string", "maxLength": 10_000},
                        "account_id": {"type": "integer", "minimum": 1},
                    },
                }
            },
            "application/json": {"schema": MediaUrlIn.model_json_schema()},
        },
    }
}


def _store(request: Request) -> BlobStore:
    """The app's blob store, built on first use from its settings."""
    state = request.app.state
    store: BlobStore | None = getattr(state, "blob_store", None)
    if store is None:
        store = blobs.from_settings(context(request).settings)
        state.blob_store = store
    return store


@router.post(
    "/media",
    status_code=201,
    tags=["media"],
    openapi_extra=UPLOAD_BODY,
    responses={413: {"description": "over PUBLISHER_MEDIA_MAX_BYTES"}},
)
async def create_media(request: Request) -> MediaOut:
    """Upload a file (multipart ``file``) or name one by ``url`` (JSON); 201 with its id."""
    ctx = context(request)
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _upload(request, ctx)
    if kind == "application/json":
        body = _url_body(await _json(request))
        return await run_in_threadpool(_create_from_url, ctx, body)
    raise HTTPException(415, 'send multipart/form-data (field file) or JSON {"url": ...}')


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidInput("body", "is not valid JSON") from None


def _url_body(raw: Any) -> MediaUrlIn:
    try:
        return MediaUrlIn.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


async def _upload(request: Request, ctx: Context) -> MediaOut:
    async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file", "is required: a multipart file field named file")
        alt = form.get("alt")
        if alt is not None and not isinstance(alt, str):
            raise InvalidInput("alt", "must be a text field")
        account_id = _account_id(form.get("account_id"))
        content = await upload.read(ctx.settings.media_max_bytes + 1)
        filename = upload.filename
    store = _store(request)
    return await run_in_threadpool(
        _create_from_upload, ctx, store, content, filename, alt, account_id
    )


def _account_id(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
        raise InvalidInput("account_id", "must be a positive integer")
    value = int(raw)
    if not 1 <= value < 2**63:
        raise InvalidInput("account_id", "must be a positive integer")
    return value


def _create_from_upload(
    ctx: Context,
    store: BlobStore,
    content: bytes,
    filename: str | None,
    alt: str | None,
    account_id: int | None,
) -> MediaOut:
    with db.transaction(ctx.sessions) as session:
        media = service.create_from_upload(
            session,
            store,
            content,
            filename,
            alt,
            account_id,
            max_bytes=ctx.settings.media_max_bytes,
        )
        return MediaOut.of(media)


def _create_from_url(ctx: Context, body: MediaUrlIn) -> MediaOut:
    with db.transaction(ctx.sessions) as session:
        media = service.create_from_url(
            session,
            body.url,
            body.alt,
            body.account_id,
            allow_private=ctx.settings.allow_private_urls,
        )
        return MediaOut.of(media)


@router.get("/media/{media_id}", tags=["media"])
def get_media(request: Request, media_id: ObjectId) -> MediaOut:
    with db.transaction(context(request).sessions) as session:
        return MediaOut.of(service.get_media(session, media_id))


@router.get(
    "/media/{media_id}/content",
    tags=["media"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "video/mp4": {}}}},
)
def get_media_content(request: Request, media_id: ObjectId) -> Response:
    """An uploaded file's bytes, with its sniffed type (404 for a URL media: fetch its
    ``url``)."""
    with db.transaction(context(request).sessions) as session:
        media = service.get_media(session, media_id)
        key, content_type = media.blob_key, media.content_type
    if key is None or content_type is None:
        raise NotFound(f"media {media_id} is a URL, not an upload: fetch its url", field="media_id")
    content = _store(request).get(key)
    return Response(content, media_type=content_type)
