"""An ASGI middleware that refuses request bodies over a size bound with 413.

It checks Content-Length up front and counts streamed (chunked) bodies as they arrive,
so an oversized body is refused before the application reads it. A few routes (media
uploads) have a bound of their own, by path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised into the app when a streamed body passes the bound (FastAPI re-raises it)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is over {max_bytes} bytes")


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})  # exact paths with a bound of their own

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = json.dumps(
            {
                "error": "too_large",
                "message": f"request body is over {max_bytes} bytes",
                "field": "body",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _declared_length(self, scope: Scope) -> int | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.per_path.get(scope.get("path", ""), self.max_bytes)
        declared = self._declared_length(scope)
        if declared is not None and declared > max_bytes:
            await self._refuse(send, max_bytes)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, max_bytes)

    def __repr__(self) -> str:  # pragma: no cover
        return f"BodyLimit(max_bytes={self.max_bytes})"
