"""The sandbox's Facebook Pages (Graph API): publish to the Page's feed and read its posts
back, under any version prefix (``/v24.0/me/feed``); a Page token's ``/me`` is the Page.

Graph has no idempotency key. Helpful (the default), the sandbox refuses a message the
Page already posted with Graph's code 506 ("Duplicate status message"), which tells a
retry its first try landed. Strict, every create creates: a client must find its earlier
post by reading the Page's posts (``GET /me/posts?since=&limit=&after=``, newest first,
``paging.cursors.after`` and ``paging.next`` while more remain).

Photos: ``facebook_photos`` (``POST /me/photos`` unpublished, then ``attached_media`` on
the feed post; a post with photos may have no message). Every answer to a create reports
the Page's business-use-case usage (``X-Business-Use-Case-Usage``): ``State.graph_usage``
(1% unless a test sets it), or NN% for a create under a ``graph_usage:NN`` fault marker.

Errors are Graph's ``{"error": {"message", "type", "code", "fbtrace_id"}}``; an invalid
token answers code 190 (subcode 463, expired), 400. Graph sends no ``Retry-After``: a
throttled answer reports usage in ``X-App-Usage`` (``faults.graph_refusal``). Sources:
https://developers.facebook.com/docs/graph-api/guides/error-handling,
https://developers.facebook.com/docs/graph-api/reference/page/feed,
https://developers.facebook.com/docs/graph-api/overview/rate-limiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from publisher.sandbox import facebook_photos
from publisher.sandbox.faults import business_usage, with_faults
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, json_response

FEED = "/me/feed"  # the ledger's path for every version prefix
VERSION = r"/v\d+\.\d+"
PAGE_ID = "1000"
# Graph's codes for the plain statuses the fault plan answers (``HTTP_FAULTS``).
STATUS_CODES = {401: 190, 403: 10, 422: 100, 429: 4, 500: 1, 502: 2, 503: 2, 504: 2}
DUPLICATE = 506
MAX_LIMIT = 100  # the most posts one page lists


class GraphDialect:
    """Graph answers every error as ``{"error": {...}}`` with a numeric code."""

    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return graph_error(status, STATUS_CODES.get(status, 1), message, headers)

    def unauthorized(self) -> Response:
        return graph_error(400, 190, "Error validating access token: Session has expired", {}, 463)

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        return {"X-App-Usage": '{"call_count":100,"total_cputime":10,"total_time":10}'}


DIALECT = GraphDialect()


def graph_error(
    status: int,
    code: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    subcode: int | None = None,
) -> Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return json_response(status, {"error": {**error, "fbtrace_id": "Sbx"}}, headers)


def _authorize(state: State, request: Request) -> Response | None:
    return None if state.token_ok(request.bearer()) else DIALECT.unauthorized()


def create_post(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _authorize(state, request)
    if refused is not None:
        return refused
    token = request.bearer()
    fields = request.fields()
    message = fields.get("message", "")
    has_photos = bool(fields.get("attached_media"))
    if not isinstance(message, str) or not (message.strip() or has_photos):
        return graph_error(400, 100, "(#100) Invalid parameter: message is empty")

    def create() -> Response:
        photos, refused = facebook_photos.attached(state, token, fields)
        if refused is not None:
            return graph_error(400, facebook_photos.INVALID_PARAMETER, refused)

        def build(post_id: str, at: datetime) -> dict[str, Any]:
            created = at.strftime("%Y-%m-%dT%H:%M:%S+0000")
            post = {"id": f"{PAGE_ID}_{post_id}", "created_time": created}
            text = {"message": message} if message else {}  # Graph leaves out no text
            return {**post, **text, **facebook_photos.attachments(photos)}

        outcome, post = state.ledger.create(
            kind="facebook",
            path=FEED,
            token=token,
            text=message,
            key=None,
            build=build,
            honour_key=False,
            unique_text=not state.is_strict("facebook"),
            media=photos,
        )
        if outcome == "duplicate":
            return graph_error(400, DUPLICATE, "Duplicate status message")
        return json_response(200, {"id": post["id"]}, business_usage(state.graph_usage))

    return with_faults(
        state.faults,
        state.slow_seconds,
        DIALECT,
        FEED,
        message,
        None,
        create,
        request.header("Authorization"),
    )


def page_posts(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """The Page's posts (``graph_listing``)."""
    return graph_listing(state, request, FEED)


def graph_listing(state: State, request: Request, path: str) -> Response:
    """The posts the token made at ``path``, newest first, ``limit`` at a time from the
    ``after`` cursor (an offset), those created before ``since`` (epoch seconds) left out
    (Facebook's Page posts, Threads' user posts)."""
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    refused = _authorize(state, request)
    if refused is not None:
        return refused
    try:
        since = int(request.query.get("since", "0"))
        limit = min(int(request.query.get("limit", "25")), MAX_LIMIT)
        start = int(request.query.get("after", "0"))
    except ValueError:
        return graph_error(400, 100, "(#100) Invalid parameter")
    posts = [
        record.payload
        for record in state.ledger.created_by(path, request.bearer())
        if record.at >= datetime.fromtimestamp(since, UTC)
    ]
    page: dict[str, Any] = {"data": posts[start : start + limit]}
    if start + limit < len(posts):
        after = str(start + limit)
        page["paging"] = {
            "cursors": {"before": str(start), "after": after},
            "next": f"{request.base_url}{request.path}?after={after}",
        }
    return json_response(200, page)


def upload_photo(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """``POST /me/photos`` (``facebook_photos.upload``), in Graph's words."""
    refused = _authorize(state, request)
    if refused is not None:
        return refused
    stored = facebook_photos.upload(state, request)
    if isinstance(stored, tuple):
        return graph_error(400, *stored)
    return json_response(200, {"id": stored.id}, business_usage(state.graph_usage))


ROUTES: list[Route] = [
    route("POST", VERSION + FEED, create_post),
    route("POST", VERSION + "/me/photos", upload_photo),
    route("GET", VERSION + "/me/posts", page_posts),
]
