"""Faults on the lookups a client makes to reconcile (Mastodon ``verify_credentials`` and an
account's statuses, X ``users/me`` and a user's tweets), so a test can make "is my post
there?" unanswerable.

A test arms them with ``Sandbox.fail_lookups(times, status, token)``: the next ``times``
lookup GETs (all of them until disarmed when ``times`` is None), by ``token`` only when one
is given, answer ``status`` in the provider's error format; status 0 resets the connection
instead. Create calls are never touched here (``faults`` does those).
"""

from __future__ import annotations

import threading
from http import HTTPStatus

from publisher.sandbox.faults import Dialect
from publisher.sandbox.wire import Response

RESET = 0  # the status that asks for a connection reset instead of an answer
_ERRORS = frozenset(status.value for status in HTTPStatus if status.value >= 400)


class LookupFaults:
    """How many lookup GETs fail next, with what, and for whom; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left: int | None = 0  # None: every lookup until disarmed
        self._status = 503
        self._token: str | None = None
        self._served = 0

    def arm(self, times: int | None, status: int = 503, token: str | None = None) -> None:
        """Fails the next ``times`` lookups (None: all; 0 disarms) with ``status``.

        Raises ``ValueError`` for a negative count or a status that is neither 0 (reset)
        nor a known HTTP error status.
        """
        if times is not None and times < 0:
            raise ValueError(f"times must be >= 0 or None, not {times}")
        if status != RESET and (status not in _ERRORS):
            raise ValueError(f"status must be 0 (reset) or an HTTP error status, not {status}")
        with self._lock:
            self._left, self._status, self._token = times, status, token

    def take(self, token: str | None) -> int | None:
        """The status to fail this lookup by ``token`` with (0: reset), counting it as
        used; None when it should be answered."""
        with self._lock:
            if self._left == 0 or (self._token is not None and token != self._token):
                return None
            if self._left is not None:
                self._left -= 1
            self._served += 1
            return self._status

    @property
    def served(self) -> int:
        """How many lookups were failed since the last ``clear``."""
        with self._lock:
            return self._served

    def clear(self) -> None:
        """Disarms and forgets the count."""
        with self._lock:
            self._left, self._status, self._token, self._served = 0, 503, None, 0


def failure(status: int, dialect: Dialect) -> Response:
    """The failed lookup's answer: a reset for 0, else ``status`` in ``dialect``."""
    if status == RESET:
        return Response(0, reset=True)
    return dialect.error(status, HTTPStatus(status).phrase)
