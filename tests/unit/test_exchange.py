"""One provider call on a real socket: a total deadline however the server trickles, and
a bounded answer. The server is a raw TCP server on 127.0.0.1 so it can misbehave."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from publisher.engine import deadline
from publisher.engine.constants import MAX_RESPONSE_BYTES
from publisher.engine.exchange import USER_AGENT, new_session, perform
from publisher.providers.base import PreparedCall
from tests.support.pipeline import wait_for

TRICKLE_FOR = 20.0  # s: long enough that only the deadline ends a call before it
Behaviour = Callable[[socket.socket], None]


def _read_request(conn: socket.socket) -> bytes | None:
    """Reads one request's head; None when the client hung up instead."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


def _trickle_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n")
    conn.sendall(b"Content-Length: 1000\r\n\r\n{")
    _trickle(conn, b" ")


def _trickle_headers(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 201 Created\r\nX-Slow: ")
    _trickle(conn, b"a")


def _trickle(conn: socket.socket, byte: bytes) -> None:
    end = time.monotonic() + TRICKLE_FOR
    while time.monotonic() < end:
        try:
            conn.sendall(byte)
        except OSError:
            return  # the client hung up: the deadline worked
        time.sleep(0.2)


def _huge(conn: socket.socket) -> None:
    size = 2 * MAX_RESPONSE_BYTES
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
    with contextlib.suppress(OSError):  # the client stops reading at the bound
        conn.sendall(b"x" * size)


def _ok(conn: socket.socket) -> None:
    conn.sendall(b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{"id": "7"}')


def _sets_a_cookie(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 201 Created\r\nSet-Cookie: session=account-a; Path=/\r\n"
        b'Content-Length: 11\r\n\r\n{"id": "7"}'
    )


class RawServer:
    """Accepts connections and answers each request with ``behaviour``."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = _ok
        self.heads: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/v1/statuses"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            while (head := _read_request(conn)) is not None:
                self.heads.append(head)
                behaviour = self.behaviour
                behaviour(conn)
                if behaviour not in (_ok, _sets_a_cookie):
                    return


@pytest.fixture
def server() -> Iterator[RawServer]:
    raw = RawServer()
    yield raw
    raw.sock.close()


@pytest.mark.parametrize("behaviour", [_trickle_body, _trickle_headers], ids=["body", "headers"])
def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(
    server: RawServer, behaviour: Behaviour
) -> None:
    # Given a server that sends a byte every 0.2 s: each read is well inside the timeout
    server.behaviour = behaviour
    call = PreparedCall("POST", server.url, {}, json={"status": "hi"})
    # When the call's deadline is one second away
    with new_session() as session:
        exchange = perform(session, call, (1.0, 1.0), deadline=time.monotonic() + 1.0)
    # Then the call ended by its deadline, unanswered and ambiguous (the post may exist)
    assert exchange.status is None
    assert exchange.error is not None and "deadline passed" in exchange.error
    assert exchange.ambiguous
    assert exchange.duration_ms < TRICKLE_FOR * 1000


def test_the_session_keeps_working_after_a_deadline(server: RawServer) -> None:
    server.behaviour = _trickle_body
    call = PreparedCall("POST", server.url, {}, json={})
    with new_session() as session:
        assert perform(session, call, (1.0, 1.0), deadline=time.monotonic() + 0.5).status is None
        server.behaviour = _ok
        assert perform(session, call, (1.0, 1.0)).status == 201


def test_a_nearer_deadline_that_arrives_later_still_ends_its_call_on_time(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a call in flight with a distant deadline (the watchdog sleeps until it)
    monkeypatch.setattr(deadline, "POLL_SECONDS", 10.0)
    server.behaviour = _trickle_body
    call = PreparedCall("POST", server.url, {}, json={})
    with new_session() as session:
        distant = threading.Thread(
            target=perform, args=(session, call, (1.0, 1.0), time.monotonic() + 4.0)
        )
        distant.start()
        wait_for(lambda: len(server.heads) == 1, 10)
        # When a second call starts with a deadline half a second away
        exchange = perform(session, call, (1.0, 1.0), deadline=time.monotonic() + 0.5)
        distant.join()
    # Then the watchdog woke for it: it ended near its own deadline, not the first one's
    assert exchange.error is not None and "deadline passed" in exchange.error
    assert exchange.duration_ms < 2_500


def test_an_answer_over_the_bound_is_cut_and_marked(server: RawServer) -> None:
    server.behaviour = _huge
    with new_session() as session:
        exchange = perform(session, PreparedCall("GET", server.url, {}), (1.0, 5.0))
    assert (exchange.status, exchange.oversized) == (200, True)
    assert exchange.body is not None and len(exchange.body) == MAX_RESPONSE_BYTES


def test_a_normal_answer_is_read_whole(server: RawServer) -> None:
    with new_session() as session:
        exchange = perform(session, PreparedCall("GET", server.url, {}), (1.0, 5.0))
    assert (exchange.status, exchange.oversized, exchange.json()) == (201, False, {"id": "7"})


def test_a_cookie_set_by_a_provider_never_goes_out_with_a_later_call(
    server: RawServer,
) -> None:
    # Given a provider that sets a cookie on one account's call (the session is shared)
    server.behaviour = _sets_a_cookie
    with new_session() as session:
        assert perform(session, PreparedCall("POST", server.url, {}), (1.0, 5.0)).status == 201
        # When the next call, for any account, goes to the same host
        server.behaviour = _ok
        assert perform(session, PreparedCall("POST", server.url, {}), (1.0, 5.0)).status == 201
        # Then it carries no cookie, and none was kept
        assert len(session.cookies) == 0
    assert len(server.heads) == 2
    assert b"cookie:" not in server.heads[1].lower()


def test_a_call_carries_the_session_headers_and_its_own_win(server: RawServer) -> None:
    headers = {"authorization": "Bearer tok-1", "accept": "application/activity+json"}
    call = PreparedCall("POST", server.url, headers, json={"status": "hi"})
    with new_session() as session:
        assert perform(session, call, (1.0, 5.0)).status == 201
    head = server.heads[0].decode().lower()
    assert f"user-agent: {USER_AGENT}".lower() in head
    assert "authorization: bearer tok-1" in head
    assert "accept: application/activity+json" in head and "accept: */*" not in head
    assert "content-type: application/json" in head


def test_the_environment_is_read_once_when_no_proxy_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    # Given no proxy in the environment, the session stops scanning it per request
    session = new_session()
    assert session.trust_env is False
    assert session.verify == "/etc/ssl/bundle.pem"  # read once instead


def test_a_proxy_in_the_environment_keeps_requests_own_handling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = new_session()
    assert session.trust_env is True  # no_proxy and the rest stay requests' business
