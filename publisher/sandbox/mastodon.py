"""The sandbox's Mastodon: create a status, verify credentials, and list an account's
statuses for reconciliation.

Helpful (the default), it honours ``Idempotency-Key`` per token for as long as it runs, so
a repeated key replays the first status. Strict, it ignores the key and every create
creates: a real server keeps keys only for a while and only once the status exists, so a
client must not count on them.

Every token owns its own timeline, though all of them call the account ``1``/``user``.
Reading it pages as Mastodon does: newest first, ``limit`` (default 20, at most 40),
``max_id`` (older than), ``since_id`` (newer than), ``min_id`` (the page immediately newer
than), and a ``Link`` header whose ``next`` (older statuses, given when the page is full)
and ``prev`` (newer ones) carry the cursors. Sources:
https://docs.joinmastodon.org/methods/accounts/#statuses and
https://docs.joinmastodon.org/api/guidelines/#pagination.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import regex

from publisher.sandbox.faults import with_faults
from publisher.sandbox.ledger import CreateRecord
from publisher.sandbox.media import mastodon_attachment
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, iso_millis, json_response

STATUSES = "/api/v1/statuses"
MAX_CHARS = 500  # Mastodon's default character limit
# Mastodon counts a link as 23 characters whatever its length, and user-perceived
# characters (graphemes), not code points (StatusLengthValidator). A rough count of its
# own, independent of publisher's: only links starting with http(s)://.
_LINK = regex.compile(r"https?://\S+")
URL_LENGTH = 23


def length(text: str) -> int:
    """The status' length roughly as Mastodon counts it."""
    return len(regex.findall(r"\X", _LINK.sub("x" * URL_LENGTH, text)))


VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_LIMIT, MAX_LIMIT = 20, 40  # Mastodon's page sizes for account statuses


class MastodonDialect:
    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return json_response(status, {"error": message}, headers)

    def unauthorized(self) -> Response:
        return self.error(401, "The access token is invalid")

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": iso_millis(until),
        }


DIALECT = MastodonDialect()


def account(base_url: str) -> dict[str, Any]:
    return {"id": "1", "username": "user", "acct": "user", "url": f"{base_url}/@user"}


def content_html(text: str) -> str:
    """``text`` as Mastodon renders a plain status: escaped, in paragraphs."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()] or [""]
    return "".join(
        "<p>" + "<br />".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def create_status(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    fields = request.fields()
    text = str(fields.get("status") or "")
    visibility = str(fields.get("visibility") or "public")
    key = request.header("Idempotency-Key")

    def create() -> Response:
        ids = fields.get("media_ids")
        media, refused = state.media.attach(
            "mastodon", token, ids if isinstance(ids, list) else [], state.is_strict("mastodon")
        )
        if refused is not None:
            return DIALECT.error(422, f"Validation failed: {refused}")
        if not text.strip() and not media:
            return DIALECT.error(422, "Validation failed: Text can't be blank")
        if length(text) > MAX_CHARS:
            return DIALECT.error(
                422, f"Validation failed: Text character limit of {MAX_CHARS} exceeded"
            )
        if visibility not in VISIBILITIES:
            return DIALECT.error(422, "Validation failed: Visibility is not included in the list")
        reply_to = fields.get("in_reply_to_id")
        if reply_to is not None and state.ledger.find(STATUSES, token, str(reply_to)) is None:
            return DIALECT.error(404, "Record not found")  # the status replied to

        def build(post_id: str, at: datetime) -> dict[str, Any]:
            base = request.base_url
            return {
                "id": post_id,
                "created_at": iso_millis(at),
                "visibility": visibility,
                "sensitive": bool(fields.get("sensitive")),
                "spoiler_text": str(fields.get("spoiler_text") or ""),
                "language": fields.get("language"),
                "uri": f"{base}/users/user/statuses/{post_id}",
                "url": f"{base}/@user/{post_id}",
                "content": content_html(text),
                "account": account(base),
                "media_attachments": [mastodon_attachment(m, base) for m in media],
                "in_reply_to_id": fields.get("in_reply_to_id"),
            }

        _, payload = state.ledger.create(
            kind="mastodon",
            path=STATUSES,
            token=token,
            text=text,
            key=key,
            build=build,
            honour_key=not state.is_strict("mastodon"),
            media=media,
        )
        return json_response(200, payload)

    return with_faults(
        state.faults,
        state.slow_seconds,
        DIALECT,
        STATUSES,
        text,
        key,
        create,
        request.header("Authorization"),
    )


def verify_credentials(state: State, request: Request, params: Mapping[str, str]) -> Response:
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    if not state.token_ok(request.bearer()):
        return DIALECT.unauthorized()
    return json_response(200, account(request.base_url))


def get_status(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    record = state.ledger.find(STATUSES, token, params["id"])
    if record is None:
        return DIALECT.error(404, "Record not found")
    return json_response(200, record.payload)


def account_statuses(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """A page of the token's statuses, newest first, with Mastodon's ``Link`` header."""
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    query = request.query
    try:
        limit = min(max(int(query.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
        max_id, since_id, min_id = (_id(query, name) for name in ("max_id", "since_id", "min_id"))
    except ValueError:
        return DIALECT.error(400, "limit, max_id, since_id and min_id must be integers")
    newest_first = [
        r
        for r in state.ledger.created_by(STATUSES, token)
        if (max_id is None or int(r.id) < max_id)
        and (since_id is None or int(r.id) > since_id)
        and (min_id is None or int(r.id) > min_id)
    ]
    # min_id pages forward: the statuses immediately newer than it, still newest first.
    page = newest_first[-limit:] if min_id is not None else newest_first[:limit]
    link = _link(f"{request.base_url}{request.path}", page, limit, "limit" in query)
    return json_response(200, [r.payload for r in page], {"Link": link} if link else None)


def _id(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    return int(value) if value else None


def _link(url: str, page: list[CreateRecord], limit: int, limit_given: bool) -> str | None:
    """Mastodon's ``Link``: ``next`` for older statuses when the page is full, ``prev`` for
    newer ones when it is not empty."""
    keep = f"limit={limit}&" if limit_given else ""
    links = []
    if page and len(page) == limit:
        links.append(f'<{url}?{keep}max_id={page[-1].id}>; rel="next"')
    if page:
        links.append(f'<{url}?{keep}min_id={page[0].id}>; rel="prev"')
    return ", ".join(links) or None


ROUTES: list[Route] = [
    route("POST", STATUSES, create_status),
    route("GET", r"/api/v1/statuses/(?P<id>\d+)", get_status),
    route("GET", "/api/v1/accounts/verify_credentials", verify_credentials),
    route("GET", r"/api/v1/accounts/(?P<id>[^/]+)/statuses", account_statuses),
]
