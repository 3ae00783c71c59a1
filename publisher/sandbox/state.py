"""Everything the sandbox's routes share: the ledger, the fault plan and the knobs a test
turns while the server runs (strict kinds, invalid tokens, slowness, the notification
status)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from publisher.sandbox.faults import Dialect, FaultPlan
from publisher.sandbox.inflight import InFlight
from publisher.sandbox.ledger import Ledger
from publisher.sandbox.lookup_faults import LookupFaults, failure
from publisher.sandbox.media import MediaLibrary
from publisher.sandbox.oauth import TokenServer
from publisher.sandbox.quota import Quota
from publisher.sandbox.threads_containers import Containers
from publisher.sandbox.wire import Request, Response

T = TypeVar("T")

# The provider kinds the sandbox stands in for; each can be helpful or strict on its own.
KINDS = ("mastodon", "x", "webhook", "linkedin", "bluesky", "facebook", "threads")


def strict_kinds(strict: bool | str | Iterable[str]) -> frozenset[str]:
    """The kinds ``strict`` names: True is every kind, False none, else the kinds listed
    (one name alone counts as one kind). Raises ``ValueError`` for an unknown kind."""
    if isinstance(strict, bool):
        return frozenset(KINDS) if strict else frozenset()
    kinds = frozenset([strict] if isinstance(strict, str) else strict)
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ValueError(f"unknown provider kind(s) {unknown}; known: {', '.join(KINDS)}")
    return kinds


class Inbox(Generic[T]):
    """A thread-safe list the server appends to and tests read copies of."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[T] = []

    def append(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[T]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass(frozen=True)
class Delivery:
    """One request the webhook receiver accepted (a replayed key included)."""

    name: str
    headers: dict[str, str]
    body: bytes
    idempotency_key: str | None
    id: str
    replay: bool
    at: datetime


@dataclass(frozen=True)
class Notification:
    body: Any  # parsed JSON, or the text when the body is not JSON
    headers: dict[str, str]
    at: datetime


@dataclass
class State:
    """The shared state; ``strict`` may be reassigned while the server runs (a frozenset
    swap is atomic, so a request sees the old or the new set, never a mix)."""

    faults: FaultPlan
    # Kinds that behave like the real provider rather than helping the client: the
    # Idempotency-Key is ignored (every create creates) and X accepts a duplicate text.
    strict: frozenset[str] = frozenset()
    slow_seconds: float = 3.0  # how long the ``slow`` fault sleeps before answering
    # Every request with a bearer token (the providers' API) is answered this much later:
    # a slow but healthy provider, so that concurrent calls overlap.
    latency_seconds: float = 0.0
    notify_status: int = 200  # what POST /notify answers (set it to test a failing channel)
    # How many status polls an uploaded video (X: GIF or video) stays "processing" for.
    media_processing_polls: int = 0
    # The Page's usage (%) every Facebook answer reports (``graph_usage:NN`` overrides it).
    graph_usage: int = 1
    media: MediaLibrary = field(default_factory=MediaLibrary)  # uploads (sandbox.media)
    invalid_tokens: set[str] = field(default_factory=set)
    ledger: Ledger = field(default_factory=Ledger)
    lookup_faults: LookupFaults = field(default_factory=LookupFaults)
    quota: Quota = field(default_factory=Quota)  # rate-limit headers (reported only)
    in_flight: InFlight = field(default_factory=InFlight)  # concurrent requests, peaks
    deliveries: Inbox[Delivery] = field(default_factory=Inbox)
    sentry_events: Inbox[dict[str, Any]] = field(default_factory=Inbox)
    sentry_check_ins: Inbox[dict[str, Any]] = field(default_factory=Inbox)  # Sentry Crons
    notifications: Inbox[Notification] = field(default_factory=Inbox)
    oauth: TokenServer = field(default_factory=TokenServer)  # X's OAuth 2.0 tokens
    containers: Containers = field(default_factory=Containers)  # Threads' containers

    def token_ok(self, token: str | None) -> bool:
        return token is not None and token not in self.invalid_tokens and self.oauth.accepts(token)

    def is_strict(self, kind: str) -> bool:
        return kind in self.strict

    def lookup_failure(self, request: Request, dialect: Dialect) -> Response | None:
        """The answer to a lookup GET the test asked to fail, or None to serve it."""
        status = self.lookup_faults.take(request.bearer())
        return None if status is None else failure(status, dialect)

    def clear(self) -> None:
        """Forgets everything recorded and every fault counter; keeps the settings
        (``strict`` included)."""
        self.ledger.clear()
        self.faults.clear()
        self.lookup_faults.clear()
        self.quota.clear()
        self.in_flight.clear()
        self.invalid_tokens.clear()
        self.deliveries.clear()
        self.sentry_events.clear()
        self.sentry_check_ins.clear()
        self.notifications.clear()
        self.oauth.clear()
        self.media.clear()
        self.containers.clear()


Handler = Callable[[State, Request, Mapping[str, str]], Response]


@dataclass(frozen=True)
class Route:
    """``handler`` answers ``method`` on paths matching ``pattern`` (named groups -> params)."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern), handler)
