"""The sandbox's X (API v2): create a tweet, read the token's user, and list its tweets
newest first for reconciliation.

X has no idempotency key. Helpful (the default), the sandbox refuses a text the same token
already posted with X's "duplicate content" 403, which tells a retry its first try landed.
Strict, it accepts the duplicate: X does not promise that refusal, so a client must find
its earlier post by looking it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from publisher.sandbox.faults import with_faults
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, iso_millis, json_response

TWEETS = "/2/tweets"
USER = {"id": "42", "name": "Sandbox user", "username": "user"}
DEFAULT_RESULTS, MIN_RESULTS, MAX_RESULTS = 10, 5, 100  # X's max_results bounds
DUPLICATE = {
    "title": "Forbidden",
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "status": 403,
}
INVALID_TOKEN = {"errors": [{"code": 89, "message": "Invalid or expired token."}]}


class XDialect:
    """X v2 answers errors as RFC 7807 problems."""

    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        title = HTTPStatus(status).phrase
        problem = {"title": title, "detail": message, "type": "about:blank", "status": status}
        return json_response(status, problem, headers)

    def unauthorized(self) -> Response:
        return json_response(401, INVALID_TOKEN)

    def rate_limit_headers(self, now: datetime) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "200",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(now.timestamp()) + 1),
        }


DIALECT = XDialect()


def _authorize(state: State, request: Request) -> Response | None:
    token = request.bearer()
    if token is None:
        return DIALECT.error(401, "Unauthorized")
    return None if state.token_ok(token) else DIALECT.unauthorized()


def create_tweet(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _authorize(state, request)
    if refused is not None:
        return refused
    token = request.bearer()
    body = request.json()
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return DIALECT.error(400, "One or more parameters to your request was invalid.")
    key = request.header("Idempotency-Key")

    def create() -> Response:
        def build(post_id: str, at: datetime) -> dict[str, Any]:
            return {"id": post_id, "text": text, "created_at": iso_millis(at)}

        outcome, tweet = state.ledger.create(
            kind="x",
            path=TWEETS,
            token=token,
            text=text,
            key=key,
            build=build,
            honour_key=False,
            unique_text=not state.is_strict("x"),
        )
        if outcome == "duplicate":
            return json_response(403, DUPLICATE)
        data = {"id": tweet["id"], "text": text, "edit_history_tweet_ids": [tweet["id"]]}
        return json_response(201, {"data": data})

    return with_faults(state.faults, state.slow_seconds, DIALECT, TWEETS, text, key, create)


def me(state: State, request: Request, params: Mapping[str, str]) -> Response:
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    refused = _authorize(state, request)
    return refused or json_response(200, {"data": USER})


def user_tweets(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """The token's tweets newest first; like X, no ``data`` key when there are none."""
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    refused = _authorize(state, request)
    if refused is not None:
        return refused
    query = request.query
    try:
        wanted = int(query.get("max_results", DEFAULT_RESULTS))
        since_id = int(query.get("since_id") or 0)
        start = _utc(datetime.fromisoformat(query.get("start_time") or "1970-01-01T00:00Z"))
    except ValueError:
        return DIALECT.error(400, "One or more parameters to your request was invalid.")
    limit = min(max(wanted, MIN_RESULTS), MAX_RESULTS)
    tweets = [
        r.payload
        for r in state.ledger.created_by(TWEETS, request.bearer())
        if int(r.id) > since_id and r.at >= start
    ][:limit]
    meta: dict[str, Any] = {"result_count": len(tweets)}
    if not tweets:
        return json_response(200, {"meta": meta})
    meta |= {"newest_id": tweets[0]["id"], "oldest_id": tweets[-1]["id"]}
    return json_response(200, {"data": tweets, "meta": meta})


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


ROUTES: list[Route] = [
    route("POST", TWEETS, create_tweet),
    route("GET", "/2/users/me", me),
    route("GET", r"/2/users/(?P<id>[^/]+)/tweets", user_tweets),
]
