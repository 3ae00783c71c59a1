"""HTTP requests and responses as plain values, as the sandbox's routes see them.

The server turns each HTTP exchange into a ``Request`` and writes back the ``Response`` a
route returns; routes never touch sockets. A response may also ask the server to misbehave
(sleep before answering, or reset the connection), which is how faults reach the wire.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs


class BadRequest(Exception):
    """The request cannot be understood; the server answers 400 with this message."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: Mapping[str, str]  # the first value of each parameter
    headers: Mapping[str, str]  # as sent (names keep their case)
    body: bytes
    base_url: str  # scheme and authority the client used, e.g. http://127.0.0.1:8765

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, or None."""
        value = self.header("Authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def json(self) -> Any:
        """The body parsed as JSON; raises ``BadRequest`` when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"body is not JSON: {exc}") from None

    def fields(self) -> dict[str, Any]:
        """A JSON object or form-encoded body as a dict (first value of each form field)."""
        content_type = (self.header("Content-Type") or "").lower()
        if "json" in content_type:
            parsed = self.json()
            if not isinstance(parsed, dict):
                raise BadRequest("body must be a JSON object")
            return parsed
        text = self.body.decode("utf-8", errors="replace")
        return {name: values[0] for name, values in parse_qs(text).items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering (the ``slow`` fault)
    reset: bool = False  # close the connection with a TCP RST instead of answering
    raw: bytes | None = None  # write these bytes instead of an HTTP answer (a broken server)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A response with ``payload`` as a compact JSON body."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return Response(status, body, all_headers)


def iso_millis(at: datetime) -> str:
    """``at`` (UTC) as ISO 8601 with milliseconds and ``Z``, as Mastodon and X write times."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
