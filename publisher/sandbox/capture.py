"""The sandbox's receivers for what the publisher reports about itself: a Sentry ingest
endpoint (envelopes and the legacy store endpoint, gzip/deflate/brotli bodies) that keeps
the decoded events, and ``POST /notify`` for the notification channel.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from publisher.sandbox.state import Notification, Route, State, route
from publisher.sandbox.wire import BadRequest, Request, Response, json_response


def decoded_body(request: Request) -> bytes:
    """The body with its ``Content-Encoding`` undone."""
    encoding = (request.header("Content-Encoding") or "identity").strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(request.body)
        if encoding == "deflate":
            return zlib.decompress(request.body)
        if encoding == "br":
            import brotli  # type: ignore[import-not-found]  # optional, as in sentry_sdk

            return bytes(brotli.decompress(request.body))
    except (OSError, EOFError, zlib.error, ImportError) as exc:
        raise BadRequest(f"cannot decode {encoding} body: {exc}") from None
    return request.body


def envelope_items(data: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
    """The (item header, payload) pairs of a Sentry envelope (header line skipped)."""
    _, _, rest = data.partition(b"\n")
    pos = 0
    while pos < len(rest):
        end = rest.find(b"\n", pos)
        line = rest[pos:] if end < 0 else rest[pos:end]
        pos = len(rest) if end < 0 else end + 1
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if length is None:
            end = rest.find(b"\n", pos)
            end = len(rest) if end < 0 else end
        else:
            end = pos + int(length)
        yield header, rest[pos:end]
        pos = end + 1


def envelope(state: State, request: Request, params: Mapping[str, str]) -> Response:
    try:
        for header, payload in envelope_items(decoded_body(request)):
            if header.get("type") == "event":
                state.sentry_events.append(json.loads(payload))
            elif header.get("type") == "check_in":
                state.sentry_check_ins.append(json.loads(payload))
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"malformed envelope: {exc}") from None
    return json_response(200, {})


def store(state: State, request: Request, params: Mapping[str, str]) -> Response:
    try:
        event = json.loads(decoded_body(request))
    except ValueError as exc:
        raise BadRequest(f"malformed event: {exc}") from None
    if not isinstance(event, dict):
        raise BadRequest("an event must be a JSON object")
    state.sentry_events.append(event)
    return json_response(200, {"id": event.get("event_id")})


def notify(state: State, request: Request, params: Mapping[str, str]) -> Response:
    try:
        body: Any = request.json()
    except BadRequest:
        body = request.body.decode("utf-8", errors="replace")
    state.notifications.append(Notification(body, dict(request.headers), datetime.now(UTC)))
    return json_response(state.notify_status, {})


ROUTES: list[Route] = [
    route("POST", r"/api/(?P<project>\d+)/envelope/", envelope),
    route("POST", r"/api/(?P<project>\d+)/store/", store),
    route("POST", "/notify", notify),
]
