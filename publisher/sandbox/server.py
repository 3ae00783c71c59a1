"""The sandbox's HTTP server: routing and the wire, under the ``Sandbox`` handle.

A ``ThreadingHTTPServer`` speaking HTTP/1.1 keep-alive (TCP_NODELAY on every connection,
so small answers are not held back by Nagle) dispatches each request to the route of
``mastodon``, ``x``, ``webhooks`` or ``capture``, records it in the ledger, and writes the
route's answer, or sleeps first, or resets the connection, as the fault asks.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from publisher.sandbox import (
    bluesky,
    capture,
    discord,
    facebook,
    linkedin,
    mastodon,
    mastodon_media,
    telegram,
    telegram_media,
    threads,
    webhooks,
    x,
    x_media,
)
from publisher.sandbox.ledger import CallRecord
from publisher.sandbox.state import Route, State
from publisher.sandbox.wire import BadRequest, Request, Response, json_response

logger = logging.getLogger(__name__)

ROUTES: Sequence[Route] = (
    *mastodon.ROUTES,
    *mastodon_media.ROUTES,
    *x.ROUTES,
    *x_media.ROUTES,
    *webhooks.ROUTES,
    *linkedin.ROUTES,
    *bluesky.ROUTES,
    *telegram.ROUTES,
    *telegram_media.ROUTES,
    *discord.ROUTES,
    *facebook.ROUTES,
    *threads.ROUTES,
    *capture.ROUTES,
)
# An idle keep-alive connection is dropped after this long, so a long demo run does not
# accumulate one parked thread per client connection ever opened.
IDLE_TIMEOUT = 60.0


def dispatch(state: State, request: Request) -> Response:
    """The answer of the route matching ``request``; 404/405/400/500 as JSON otherwise."""
    path_known = False
    for candidate in ROUTES:
        found = candidate.pattern.fullmatch(request.path)
        if found is None:
            continue
        if candidate.method != request.method:
            path_known = True
            continue
        try:
            return candidate.handler(state, request, found.groupdict())
        except BadRequest as exc:
            return json_response(400, {"error": str(exc)})
        except Exception:
            logger.exception("sandbox route failed", extra={"path": request.path})
            return json_response(500, {"error": "sandbox route failed"})
    if path_known:
        return json_response(405, {"error": "Method Not Allowed"})
    return json_response(404, {"error": "Not Found"})


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128  # socketserver's 5 overflows when many workers connect at once

    def __init__(self, address: tuple[str, int], state: State) -> None:
        self.state = state
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Ends every open keep-alive connection, so no client reaches a stopped server."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server: SandboxHTTPServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox: " + format, *args)

    def _serve(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        headers = dict(self.headers.items())
        request = Request(
            self.command, split.path, dict(parse_qsl(split.query)), headers, body, f"http://{host}"
        )
        state = self.server.state
        token = request.bearer()
        with state.in_flight.serving((self.command, split.path, token)):
            response = dispatch(state, request)
            client = "{}:{}".format(*self.client_address[:2])
            call = CallRecord(
                self.command, self.path, headers, body, response.status, datetime.now(UTC), client
            )
            state.ledger.record_call(call)
            if response.reset:
                self._reset()
                return
            delay = response.delay + (state.latency_seconds if token is not None else 0.0)
            if delay and self.server.stopping.wait(delay):
                self.close_connection = True
                return
            if response.raw is not None:  # not HTTP: the client's parser fails on it
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.wfile.write(response.raw)
                return
            self._write(response)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:  # the client gave up (a timed-out ``slow`` call): nothing to tell
            self.close_connection = True

    def _reset(self) -> None:
        """Closes the connection with a TCP RST (linger 0) before any answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        # The socket really closes only when its makefile() reader lets go too. (``wfile``
        # writes straight to the socket and holds no such reference; closing it would
        # break the base class's flush after this method returns.)
        self.rfile.close()
        self.connection.close()
