"""The sandbox's Bluesky PDS: ``createRecord`` and ``getRecord`` of ``app.bsky.feed.post``,
``createSession``, ``refreshSession`` and ``uploadBlob`` (blobs and the images embed's
checks: ``bluesky_media``).

A session is a JWT whose ``sub`` claim is the account's DID (read, not verified); past its
``exp`` every call answers 400 ``ExpiredToken``, as a PDS does for an expired access JWT.
Records live per DID, so a refreshed token still sees the account's posts. Errors are
XRPC's ``{"error": name, "message": text}`` (https://atproto.com/specs/xrpc); a 429
carries ``RateLimit-*`` headers (https://docs.bsky.app/docs/advanced-guides/rate-limits).

A record key names one record: a create at a key that exists never makes a second post.
Helpful (the default), it answers the existing record as if it had just been created;
strict, it answers 500, as a PDS may, so a client must read back (``getRecord``) rather
than count on the create.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import regex

from publisher.sandbox import bluesky_media
from publisher.sandbox.faults import with_faults
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, json_response

KIND = "bluesky"
CREATE = "/xrpc/com.atproto.repo.createRecord"
GET = "/xrpc/com.atproto.repo.getRecord"
REFRESH = "/xrpc/com.atproto.server.refreshSession"
CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
UPLOAD_BLOB = "/xrpc/com.atproto.repo.uploadBlob"
RESOLVE_HANDLE = "/xrpc/com.atproto.identity.resolveHandle"
UNKNOWN_HANDLE = "unknown."  # a handle under this resolves to no account
REFRESH_SCOPE = "com.atproto.refresh"  # a refresh JWT's scope: good for refreshSession only
ACCESS_LIFETIME = 7200  # seconds an access JWT the sandbox issues lives
COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES = 300  # lexicons/app/bsky/feed/post.json
_TID_DIGITS = "234567abcdefghijklmnopqrstuvwxyz"
_TID = regex.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")

# XRPC error names by HTTP status, for the faults' generic errors. Bluesky never answers
# 422: a record that fails validation is a 400 ``InvalidRequest``.
ERROR_NAMES: Mapping[int, str] = {
    400: "InvalidRequest",
    401: "AuthenticationRequired",
    403: "Forbidden",
    429: "RateLimitExceeded",
    500: "InternalServerError",
    502: "UpstreamFailure",
    503: "NotEnoughResources",
    504: "UpstreamTimeout",
}
INVALID = f"Invalid {COLLECTION} record"
WRITE_POINTS_PER_HOUR = 5_000  # what RateLimit-Limit reports (the hourly write budget)
# Handles that make createSession refuse: a suspended account, a login rate limit.
TAKEDOWN_PREFIX = "takedown."
THROTTLED_PREFIX = "throttled."


class BlueskyDialect:
    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        shown = 400 if status == 422 else status
        name = ERROR_NAMES.get(shown, "InternalServerError")
        return json_response(shown, {"error": name, "message": message}, headers)

    def unauthorized(self) -> Response:
        return self.error(401, "Authentication Required")

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(WRITE_POINTS_PER_HOUR),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(until.timestamp()) + 1),  # epoch seconds, rounded up
            "RateLimit-Policy": f"{WRITE_POINTS_PER_HOUR};w=3600",
        }


DIALECT = BlueskyDialect()


def session_did(state: State, request: Request) -> str | Response:
    """The DID the request's access JWT acts for, or the PDS's refusal."""
    token = request.bearer()
    claims = _claims(token or "")
    if token is None or not state.token_ok(token) or claims is None:
        return DIALECT.unauthorized()
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp <= time.time():
        return json_response(400, {"error": "ExpiredToken", "message": "Token has expired"})
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith("did:"):
        return json_response(400, {"error": "InvalidToken", "message": "Token has no subject"})
    if (claims.get("scope") == REFRESH_SCOPE) != (request.path == REFRESH):
        return json_response(400, {"error": "InvalidToken", "message": "Bad token scope"})
    return sub


def refresh_session(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """A new session for the refresh JWT's account; that refresh JWT is spent."""
    did = session_did(state, request)
    if isinstance(did, Response):
        return did
    state.invalid_tokens.add(request.bearer() or "")
    return _session(did)


def create_session(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """A session for any identifier (a DID, else a DID derived from the handle) unless
    its app password was made invalid (``Sandbox.invalid_tokens``). A handle under
    ``takedown.`` is a suspended account (400 ``AccountTakedown``); one under
    ``throttled.`` meets a login rate limit (429 with ``RateLimit-*`` headers)."""
    fields = request.fields()
    identifier, password = str(fields.get("identifier") or ""), fields.get("password")
    if not identifier or not isinstance(password, str) or password in state.invalid_tokens:
        return DIALECT.error(401, "Invalid identifier or password")
    if identifier.startswith(TAKEDOWN_PREFIX):
        body = {"error": "AccountTakedown", "message": "Account has been taken down"}
        return json_response(400, body)
    if identifier.startswith(THROTTLED_PREFIX):
        until = datetime.now(UTC) + timedelta(seconds=state.faults.throttle_seconds)
        return DIALECT.error(429, "Rate Limit Exceeded", DIALECT.rate_limit_headers(until))
    if identifier.startswith("did:"):
        return _session(identifier)
    return _session(handle_did(identifier))


def handle_did(handle: str) -> str:
    """The sandbox's DID for ``handle``: the same one every time."""
    return "did:plc:" + hashlib.sha256(handle.lower().encode()).hexdigest()[:24]


def resolve_handle(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """``{"did"}`` for any handle but one under ``unknown.`` (400, as a PDS answers a
    handle that names no account)."""
    handle = request.query.get("handle", "")
    if not handle or handle.startswith(UNKNOWN_HANDLE):
        return DIALECT.error(400, "Unable to resolve handle")
    return json_response(200, {"did": handle_did(handle)})


def _session(did: str) -> Response:
    now = time.time()
    access = mint_jwt({"sub": did, "iat": now, "exp": now + ACCESS_LIFETIME})
    refresh = mint_jwt({"sub": did, "iat": now, "exp": now + 90 * 86400, "scope": REFRESH_SCOPE})
    return json_response(
        200, {"accessJwt": access, "refreshJwt": refresh, "handle": "user.test", "did": did}
    )


def mint_jwt(claims: Mapping[str, Any]) -> str:
    """An unsigned JWT with ``claims`` and a fresh ``jti`` (each one unique)."""

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({**claims, 'jti': secrets.token_hex(8)})}.sandbox"


def upload_blob(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """The request's bytes kept as a blob of the session's account (``bluesky_media``)."""
    did = session_did(state, request)
    if isinstance(did, Response):
        return did
    ref = bluesky_media.store_blob(state, did, request.body, request.header("Content-Type") or "")
    if ref is None:
        return DIALECT.error(400, "a blob needs a body and its Content-Type")
    return json_response(200, {"blob": ref})


def create_record(state: State, request: Request, params: Mapping[str, str]) -> Response:
    did = session_did(state, request)
    if isinstance(did, Response):
        return did
    fields = request.fields()
    given = fields.get("record")
    record: dict[str, Any] = given if isinstance(given, dict) else {}
    text = str(record.get("text") or "")
    rkey = str(fields.get("rkey") or "") or minted_tid()  # the PDS mints one when none is given

    def create() -> Response:
        media, refused = bluesky_media.embedded(state, did, record)
        refused = _refusal(did, fields, record, text, rkey) or refused
        if refused is not None:
            return DIALECT.error(400, refused)
        uri = f"at://{did}/{COLLECTION}/{rkey}"
        cid = "bafyrei" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
        outcome, payload = state.ledger.create(
            kind=KIND,
            path=CREATE,
            token=did,
            text=text,
            key=rkey,
            build=lambda _id, _at: {"uri": uri, "cid": cid, "value": record},
            media=media,
        )
        if outcome == "replayed" and state.is_strict(KIND):
            return DIALECT.error(500, "Internal Server Error")  # the key exists
        return json_response(
            200, {"uri": payload["uri"], "cid": payload["cid"], "validationStatus": "valid"}
        )

    return with_faults(
        state.faults,
        state.slow_seconds,
        DIALECT,
        CREATE,
        text,
        rkey,
        create,
        request.header("Authorization"),
    )


def get_record(state: State, request: Request, params: Mapping[str, str]) -> Response:
    failed = state.lookup_failure(request, DIALECT)
    if failed is not None:
        return failed
    did = session_did(state, request)
    if isinstance(did, Response):
        return did
    repo, rkey = request.query.get("repo"), request.query.get("rkey")
    if request.query.get("collection") != COLLECTION or not repo or not rkey:
        return DIALECT.error(400, "repo, collection and rkey are required")
    for created in state.ledger.created_by(CREATE, repo):
        if created.idempotency_key == rkey:
            payload = created.payload
            return json_response(
                200, {"uri": payload["uri"], "cid": payload["cid"], "value": payload["value"]}
            )
    message = f"Could not locate record: at://{repo}/{COLLECTION}/{rkey}"
    return json_response(400, {"error": "RecordNotFound", "message": message})


def minted_tid() -> str:
    """A fresh TID for a create that names no key: now in microseconds, a random clock id
    (https://atproto.com/specs/tid)."""
    number = (time.time_ns() // 1_000) << 10 | secrets.randbelow(1 << 10)
    return "".join(_TID_DIGITS[(number >> shift) & 31] for shift in range(60, -1, -5))


def _refusal(
    did: str, fields: Mapping[str, Any], record: Mapping[str, Any], text: str, rkey: str
) -> str | None:
    """Why the PDS refuses this create (400 InvalidRequest), or None."""
    if fields.get("repo") != did:
        return "repo does not match the session's account"
    if fields.get("collection") != COLLECTION or record.get("$type") != COLLECTION:
        return f"only {COLLECTION} records are served here"
    if not _TID.fullmatch(rkey):
        return "Invalid record key: a post's rkey must be a TID"
    if len(regex.findall(r"\X", text)) > MAX_GRAPHEMES:
        return f"{INVALID}: Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
    if not all(_within(facet, len(text.encode())) for facet in record.get("facets") or []):
        return f"{INVALID}: a facet's byte range is outside the text"
    reply = record.get("reply")
    if reply is not None and not (
        isinstance(reply, dict)
        and all(
            isinstance(reply.get(end), dict) and {"uri", "cid"} <= set(reply[end])
            for end in ("root", "parent")
        )
    ):
        return f"{INVALID}: reply needs root and parent strong refs"
    return None


def _within(facet: object, size: int) -> bool:
    """Whether a facet's UTF-8 byte range lies inside a text of ``size`` bytes."""
    index = facet.get("index") if isinstance(facet, dict) else None
    if not isinstance(index, dict):
        return False
    start, end = index.get("byteStart"), index.get("byteEnd")
    return isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size


def _claims(token: str) -> dict[str, Any] | None:
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


ROUTES: list[Route] = [
    route("POST", CREATE, create_record),
    route("GET", GET, get_record),
    route("POST", REFRESH, refresh_session),
    route("POST", CREATE_SESSION, create_session),
    route("POST", UPLOAD_BLOB, upload_blob),
    route("GET", RESOLVE_HANDLE, resolve_handle),
]
