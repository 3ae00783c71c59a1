"""A total deadline for one HTTP call, whatever the server does.

``requests`` timeouts bound each socket operation, not the call: a server that trickles
one byte a second keeps a call alive forever, past the post's lease, and another worker
may then publish the post too. Here each call runs under a ``Guard``; one watchdog thread
per process shuts the call's socket down when the guard's deadline passes, which ends
any blocked send or read at once with a connection error.

The socket is found through the connection pool: ``deadline_session`` mounts an adapter
whose pools note, in the calling thread's guard, the connection each request uses.

The same pools' connections check where they connect (``core.addresses``): the addresses
the host resolves to before connecting, and the connected peer's address after, before a
byte is sent; a forbidden one ends the call with ``ForbiddenDestination`` (nothing sent),
whatever the host resolved to when the URL was stored (DNS rebinding).
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from publisher.core.addresses import address_problem

# While the deadline passes during the connect (no socket yet), look again this often;
# the connect timeout ends that phase anyway.
REARM_SECONDS = 0.05
# The watchdog wakes at least this often, so a call whose deadline is later than its next
# wake needs no wake-up of its own (waking a thread per call costs more than the call's
# other bookkeeping together).
POLL_SECONDS = 1.0


class Guard:
    """One call's deadline (``time.monotonic()``) and the connection it uses."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: Any = None
        self.fired = False  # the deadline passed and the socket was shut down
        self.done = False
        self.lock = threading.Lock()

    def fire(self) -> bool:
        """Shut the call's socket down unless the call is over; False: no socket yet."""
        with self.lock:
            if self.done:
                return True
            sock = getattr(self.connection, "sock", None)
            if sock is None:
                return False
            self.fired = True
            with contextlib.suppress(OSError):  # already closed: the call is ending anyway
                sock.shutdown(socket.SHUT_RDWR)
            return True

    def close(self) -> None:
        """The call is over: the connection may go back to the pool untouched."""
        with self.lock:
            self.done = True


_current: contextvars.ContextVar[Guard | None] = contextvars.ContextVar(
    "publisher_deadline_guard", default=None
)


class _Watchdog:
    """One daemon thread per process, firing guards in deadline order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Guard]] = []
        self._order = itertools.count()
        self._pid: int | None = None
        self._wake_at = 0.0  # when the thread next looks (monotonic)

    def reset_after_fork(self) -> None:
        """A forked child has no watchdog thread, and the lock may have been held."""
        self._cond = threading.Condition()
        self._heap = []
        self._pid = None
        self._wake_at = 0.0

    def add(self, guard: Guard) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked child: no thread yet
                self._heap.clear()
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="http-deadlines", daemon=True).start()
            heapq.heappush(self._heap, (guard.deadline, next(self._order), guard))
            if guard.deadline < self._wake_at:
                self._cond.notify()  # due before the thread would look: wake it now

    def _next_due(self) -> Guard:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    return heapq.heappop(self._heap)[2]
                self._wake_at = now + POLL_SECONDS
                if self._heap:
                    self._wake_at = min(self._wake_at, self._heap[0][0])
                self._cond.wait(self._wake_at - now)

    def _run(self) -> None:
        while True:
            guard = self._next_due()
            if not guard.fire():
                guard.deadline = time.monotonic() + REARM_SECONDS
                self.add(guard)


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG.reset_after_fork)


@contextmanager
def guarded(deadline: float) -> Iterator[Guard]:
    """Run the HTTP call made inside this block (on a ``deadline_session``) until
    ``deadline`` at most; the guard tells afterwards whether the deadline ended it."""
    guard = Guard(deadline)
    token = _current.set(guard)
    _WATCHDOG.add(guard)
    try:
        yield guard
    finally:
        guard.close()
        _current.reset(token)


def _note_connection(connection: Any) -> None:
    guard = _current.get()
    if guard is not None:
        guard.connection = connection


class ForbiddenDestination(NewConnectionError):
    """The host resolves to an address publisher must not call; nothing was sent."""


# Whether loopback and private addresses may be called (``destinations``); link-local and
# metadata addresses never may. Outside a ``destinations`` block: allowed (the caller
# checked the URL when it was stored).
_allow_private: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "publisher_allow_private", default=True
)


@contextmanager
def destinations(allow_private: bool) -> Iterator[None]:
    """Calls made inside this block refuse loopback and private addresses unless
    ``allow_private``."""
    token = _allow_private.set(allow_private)
    try:
        yield
    finally:
        _allow_private.reset(token)


def _refuse(connection: Any, address: str) -> None:
    problem = address_problem(address, _allow_private.get())
    if problem:
        raise ForbiddenDestination(
            connection, f"{connection.host} resolves to {address}, which {problem}: not sent"
        )


def _checked_socket(connection: Any, new_conn: Any) -> socket.socket:
    """Check every address the host resolves to, connect, then check the peer itself
    (the name may resolve differently the second time)."""
    try:
        found = socket.getaddrinfo(connection._dns_host, connection.port, type=socket.SOCK_STREAM)
    except OSError:
        found = []  # the connect below reports the failure as usual
    for *_, address in found:
        _refuse(connection, str(address[0]))
    sock: socket.socket = new_conn()
    try:
        _refuse(connection, str(sock.getpeername()[0]))
    except BaseException:
        sock.close()
        raise
    return sock


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_socket(self, super()._new_conn)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_socket(self, super()._new_conn)


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _note_connection(conn)
        return super()._make_request(conn, *args, **kwargs)


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _note_connection(conn)
        return super()._make_request(conn, *args, **kwargs)


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections a ``guarded`` block can cut off."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }
