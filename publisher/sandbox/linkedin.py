"""The sandbox's LinkedIn: the Posts API, its author finder, and the Images API.

``POST /rest/posts`` answers 201 with an empty body and the post's URN
(``urn:li:share:{id}``) in ``x-restli-id``; it wants ``LinkedIn-Version`` (absent: 400;
``RETIRED_VERSION``: 426, as LinkedIn answers a version it no longer serves). Helpful
(the default), a second post by the same token with the same commentary is refused as
LinkedIn refuses it: 422 ``DUPLICATE_POST`` naming the first post's URN. Strict, every
create creates, so only publisher's own lookup keeps a retry from posting twice.

``GET /rest/posts?q=author&author=...`` lists the token's posts newest first
(``elements``: ``id``, ``commentary``, ``createdAt`` in epoch ms). Images:
``POST /rest/images?action=initializeUpload`` registers one and names its upload URL
(``PUT /sandbox-linkedin-uploads/{id}``: the bytes); ``GET /rest/images/{urn}`` says
``WAITING_UPLOAD``, ``PROCESSING`` (for ``State.media_processing_polls`` polls) or
``AVAILABLE``. Texts in the ledger are the commentary unescaped (little text), so fault
markers and ``ids_for(text)`` work with the text publisher was given; ledger ids are the
numeric part of the URNs. Sources: see ``publisher.providers.linkedin``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from publisher.sandbox.faults import with_faults
from publisher.sandbox.media import MediaRecord, digest
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, json_response

POSTS = "/rest/posts"
IMAGES = "/rest/images"
UPLOADS = "/sandbox-linkedin-uploads"
RETIRED_VERSION = "202001"  # a version the sandbox answers 426, as for a sunset one
MAX_CHARS = 3_000  # the Posts API's commentary limit
SHARE, IMAGE = "urn:li:share:", "urn:li:image:"
_ESCAPED = re.compile(r"\\(.)")


class LinkedInDialect:
    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return json_response(status, {"status": status, "message": message}, headers)

    def unauthorized(self) -> Response:
        body = {
            "status": 401,
            "serviceErrorCode": 65601,
            "code": "REVOKED_ACCESS_TOKEN",
            "message": "The token used in the request has been revoked by the user",
        }
        return json_response(401, body)

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        return {}  # LinkedIn sends no rate-limit headers (the fault's Retry-After is removed)


DIALECT = LinkedInDialect()


def unescape(commentary: str) -> str:
    """Little text back to the text typed: every backslash escape undone."""
    return _ESCAPED.sub(r"\1", commentary)


def _version_refused(request: Request) -> Response | None:
    version = request.header("LinkedIn-Version")
    if not version:
        return DIALECT.error(400, "A version must be present. Please specify a version")
    if version == RETIRED_VERSION:
        body = {"status": 426, "code": "NONEXISTENT_VERSION", "message": f"{version} not active"}
        return json_response(426, body)
    return None


def create_post(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    refused = _version_refused(request)
    if refused is not None:
        return refused
    fields = request.fields()
    commentary = str(fields.get("commentary") or "")
    text = unescape(commentary)

    def create() -> Response:
        problem = _invalid(fields, commentary)
        if problem is not None:
            return DIALECT.error(422, problem)
        images = _images(fields)
        media, missing = state.media.attach(
            "linkedin", token, list(images), state.is_strict("linkedin")
        )
        if missing is not None:
            return DIALECT.error(422, missing)
        media = tuple(state.media.update(m, description=images.get(m.id)) for m in media)
        if not state.is_strict("linkedin"):
            first = _same_commentary(state, token, commentary)
            if first is not None:
                return _duplicate(first)

        def build(post_id: str, at: datetime) -> dict[str, Any]:
            created = int(at.timestamp() * 1000)
            return {"id": SHARE + post_id, "commentary": commentary, "createdAt": created}

        _, payload = state.ledger.create(
            kind="linkedin",
            path=POSTS,
            token=token,
            text=text,
            key=None,
            build=build,
            honour_key=False,
            media=media,
        )
        return Response(201, b"", {"x-restli-id": str(payload["id"])})

    response = with_faults(
        state.faults,
        state.slow_seconds,
        DIALECT,
        POSTS,
        text,
        None,
        create,
        request.header("Authorization"),
    )
    response.headers.pop("Retry-After", None)  # LinkedIn's 429 names no time
    return response


def _invalid(fields: Mapping[str, Any], commentary: str) -> str | None:
    for name in ("author", "visibility", "distribution", "lifecycleState"):
        if not fields.get(name):
            return f"ERROR :: /{name} :: field is required but not found"
    if len(commentary) > MAX_CHARS:
        return f"ERROR :: /commentary :: length {len(commentary)} exceeds {MAX_CHARS}"
    return None


def _images(fields: Mapping[str, Any]) -> dict[str, str | None]:
    """The images a post names (``content.media`` or ``content.multiImage.images``), in
    order: image id -> its ``altText``."""
    content = fields.get("content")
    if not isinstance(content, Mapping):
        return {}
    single = content.get("media")
    multi = content.get("multiImage")
    items = [single] if isinstance(single, Mapping) else []
    if isinstance(multi, Mapping) and isinstance(multi.get("images"), list):
        items = multi["images"]
    return {
        str(item.get("id", "")).removeprefix(IMAGE): item.get("altText")
        for item in items
        if isinstance(item, Mapping)
    }


def _same_commentary(state: State, token: str | None, commentary: str) -> str | None:
    for record in state.ledger.created_by(POSTS, token):
        if record.payload.get("commentary") == commentary:
            return str(record.payload["id"])
    return None


def _duplicate(urn: str) -> Response:
    body = {
        "status": 422,
        "message": f"Content is a duplicate of {urn}",
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "errorDetails": {"inputErrors": [{"code": "DUPLICATE_POST", "description": "dup"}]},
    }
    return json_response(422, body)


def find_posts(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """The token's posts, newest first (``q=author``; ``count`` at most 100)."""
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    if request.query.get("q") != "author" or not request.query.get("author"):
        return DIALECT.error(400, "q=author and author are required")
    count = min(max(int(request.query.get("count") or 10), 1), 100)
    posts = state.ledger.created_by(POSTS, token)[:count]
    return json_response(200, {"elements": [r.payload for r in posts], "paging": {}})


def initialize_upload(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    if request.query.get("action") != "initializeUpload":
        return DIALECT.error(400, "unknown action")
    owner = (request.fields().get("initializeUploadRequest") or {}).get("owner")
    if not owner:
        return DIALECT.error(422, "ERROR :: /initializeUploadRequest/owner :: field is required")
    image_id = state.ledger.next_id()
    record = MediaRecord("linkedin", token, image_id, None, None, 0, "", None, total_bytes=-1)
    state.media.add(record)
    value = {"uploadUrl": f"{request.base_url}{UPLOADS}/{image_id}", "image": IMAGE + image_id}
    return json_response(200, {"value": value})


def upload_bytes(state: State, request: Request, params: Mapping[str, str]) -> Response:
    record = state.media.find("linkedin", request.bearer(), params["id"])
    if record is None:
        return DIALECT.error(404, "no such upload")
    state.media.update(
        record,
        content_type=request.header("Content-Type"),
        size=len(request.body),
        sha256=digest(request.body),
        total_bytes=None,
        polls_left=state.media_processing_polls,
    )
    return Response(201)


def get_image(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    image_id = unquote(params["urn"]).removeprefix(IMAGE)
    found = state.media.find("linkedin", token, image_id)
    if found is None:
        return DIALECT.error(404, "Not Found")
    if found.total_bytes is not None:
        return json_response(200, {"id": IMAGE + image_id, "status": "WAITING_UPLOAD"})
    polled = state.media.poll("linkedin", token, image_id)
    ready = polled is not None and polled.polls_left <= 0
    return json_response(200, {"id": IMAGE + image_id, "status": _status(ready)})


def _status(ready: bool) -> str:
    return "AVAILABLE" if ready else "PROCESSING"


ROUTES: list[Route] = [
    route("POST", POSTS, create_post),
    route("GET", POSTS, find_posts),
    route("POST", IMAGES, initialize_upload),
    route("GET", rf"{IMAGES}/(?P<urn>[^/]+)", get_image),
    route("PUT", rf"{UPLOADS}/(?P<id>\d+)", upload_bytes),
]
