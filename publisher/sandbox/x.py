"""The sandbox's X (API v2): create a tweet, read the token's user, and list its tweets
newest first for reconciliation.

X has no idempotency key. Helpful (the default), the sandbox refuses a text the same token
already posted with X's "duplicate content" 403, which tells a retry its first try landed.
Strict, it accepts the duplicate: X does not promise that refusal, so a client must find
its earlier post by looking it up.

Like X, it returns a tweet's text with links wrapped as t.co and ``& < >`` escaped
(``x_text``), reads timelines with X's parameters and pagination (``x_timeline``), answers
errors as ``application/problem+json`` (``title``, ``detail``, ``type``, ``status``), and
sends ``x-rate-limit-limit``/``-remaining``/``-reset`` on every response (counted per token
and endpoint, never enforced). Sources: https://docs.x.com/x-api/posts/create-or-edit-post
(``POST /2/tweets`` answers ``data.id`` and ``data.text``),
https://docs.x.com/x-api/fundamentals/response-codes-and-errors (problem details),
https://docs.x.com/x-api/fundamentals/rate-limits (headers and per-user limits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from publisher.sandbox import x_timeline
from publisher.sandbox.faults import with_faults
from publisher.sandbox.media import MediaRecord
from publisher.sandbox.oauth import TOKEN_PATH
from publisher.sandbox.state import Handler, Route, State, route
from publisher.sandbox.wire import BadRequest, Request, Response, iso_millis, json_response
from publisher.sandbox.x_text import render

TWEETS = "/2/tweets"
USER = {"id": "42", "name": "Sandbox user", "username": "user"}
PROBLEM_JSON = "application/problem+json"
DUPLICATE = {
    "title": "Forbidden",
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "status": 403,
}
# Per-user requests per 15 minutes, as X's rate-limit table lists them; reported in the
# headers, never enforced.
LIMITS = {"create": 100, "me": 75, "timeline": 900, "media": 500}


def problem(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """``body`` as an ``application/problem+json`` answer."""
    return json_response(status, body, {**(headers or {}), "Content-Type": PROBLEM_JSON})


class XDialect:
    """X v2 answers errors as RFC 7807 problems."""

    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        title = HTTPStatus(status).phrase
        body = {"title": title, "detail": message, "type": "about:blank", "status": status}
        return problem(status, body, headers)

    def unauthorized(self) -> Response:
        return self.error(401, "Unauthorized")

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(LIMITS["create"]),
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(math.ceil(until.timestamp())),
        }


DIALECT = XDialect()


def _authorize(state: State, request: Request) -> Response | None:
    return None if state.token_ok(request.bearer()) else DIALECT.unauthorized()


def create_tweet(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _authorize(state, request)
    if refused is not None:
        return refused
    token = state.oauth.user_of(request.bearer())  # every token of one grant: one user
    body = request.json()
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return DIALECT.error(400, "One or more parameters to your request was invalid.")
    key = request.header("Idempotency-Key")
    reply = body.get("reply") if isinstance(body, dict) else None
    reply_to = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None

    def create() -> Response:
        if reply_to is not None and state.ledger.find(TWEETS, token, str(reply_to)) is None:
            return DIALECT.error(400, "The post you are replying to does not exist.")
        media, refused = state.media.attach("x", token, media_ids(body), state.is_strict("x"))
        if refused is not None:
            return DIALECT.error(400, f"Your media IDs are invalid: {refused}.")
        shown = render(text)

        def build(post_id: str, at: datetime) -> dict[str, Any]:
            tweet: dict[str, Any] = {
                "id": post_id,
                "text": shown.text,
                "edit_history_tweet_ids": [post_id],
                "created_at": iso_millis(at),
            }
            if shown.urls:
                tweet["entities"] = {"urls": list(shown.urls)}
            if reply_to is not None:
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": str(reply_to)}]
            return tweet | attachments(media)

        outcome, tweet = state.ledger.create(
            kind="x",
            path=TWEETS,
            token=token,
            text=text,
            key=key,
            build=build,
            honour_key=False,
            unique_text=not state.is_strict("x"),
            media=media,
        )
        if outcome == "duplicate":
            return problem(403, DUPLICATE)
        # The create answer carries the default fields only: no created_at, no entities.
        return json_response(201, {"data": x_timeline.fields_of(tweet, frozenset())})

    return with_faults(
        state.faults,
        state.slow_seconds,
        DIALECT,
        TWEETS,
        text,
        key,
        create,
        request.header("Authorization"),
    )


def attachments(media: tuple[MediaRecord, ...]) -> dict[str, Any]:
    """A tweet's ``attachments`` field for the media it carries (none: no field)."""
    return {"attachments": {"media_keys": [f"3_{m.id}" for m in media]}} if media else {}


def media_ids(body: Any) -> list[Any]:
    """The ``media.media_ids`` of a create body (none when absent or malformed)."""
    media = body.get("media") if isinstance(body, dict) else None
    ids = media.get("media_ids") if isinstance(media, dict) else None
    return ids if isinstance(ids, list) else []


def me(state: State, request: Request, params: Mapping[str, str]) -> Response:
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    refused = _authorize(state, request)
    return refused or json_response(200, {"data": USER})


def user_tweets(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """The token's tweets newest first, a page at a time (see ``x_timeline``)."""
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    refused = _authorize(state, request)
    if refused is not None:
        return refused
    try:
        query = x_timeline.parse(request.query)
    except x_timeline.InvalidParameter as exc:
        return problem(400, exc.problem)
    tweets = state.ledger.created_by(TWEETS, state.oauth.user_of(request.bearer()))
    return json_response(200, x_timeline.page(tweets, query))


def as_x(endpoint: str, handler: Handler) -> Handler:
    """``handler`` answering as X does: a request it cannot read is a 400 problem, and
    every answer carries X's rate-limit headers (a reset carries none; a throttling
    fault's own headers are kept)."""
    limit = LIMITS[endpoint]

    def serve(state: State, request: Request, params: Mapping[str, str]) -> Response:
        try:
            response = handler(state, request, params)
        except BadRequest as exc:
            response = DIALECT.error(400, str(exc))
        if response.reset or "x-rate-limit-limit" in response.headers:
            return response
        used, reset = state.quota.take((endpoint, request.bearer()), datetime.now(UTC))
        response.headers |= {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(limit - used, 0)),
            "x-rate-limit-reset": str(reset),
        }
        return response

    return serve


def token(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """X's OAuth 2.0 token endpoint (``oauth.TokenServer``)."""
    return state.oauth.refresh(request, state.slow_seconds)


ROUTES: list[Route] = [
    route("POST", TWEETS, as_x("create", create_tweet)),
    route("POST", TOKEN_PATH, token),
    route("GET", "/2/users/me", as_x("me", me)),
    route("GET", r"/2/users/(?P<id>[^/]+)/tweets", as_x("timeline", user_tweets)),
]
