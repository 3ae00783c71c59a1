"""What the sandbox saw and created, kept for the tests' assertions.

Every request is a ``CallRecord``; every post the fake providers created is a
``CreateRecord``; a repeated idempotency key is a ``Replay``, not a create. The ledger also
owns the provider-side idempotency store and duplicate-text check, so "create unless seen"
is one atomic step even under concurrent workers (whether to apply them is the caller's
choice: a strict provider applies neither). All access goes through one lock; the read
accessors return copies.

For exactly-once assertions: ``creates_by_text``/``ids_for`` count and name the creates of
each text (providers with or without keys), ``creates_by_key``/``ids_for_key`` the same
per idempotency key, where one was sent.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from publisher.sandbox.media import MediaRecord

# Snowflake-sized ids, like Mastodon's and X's, so clients never treat them as small ints.
FIRST_ID = 110_000_000_000_000_001

Outcome = Literal["created", "replayed", "duplicate"]


@dataclass(frozen=True)
class CallRecord:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes
    status: int  # 0 when the connection was reset instead of answered
    at: datetime
    client: str = ""  # the caller's "address:port": one per TCP connection


@dataclass(frozen=True)
class CreateRecord:
    kind: str  # the network: "mastodon", "x", "webhook", "linkedin", ... (state.KINDS)
    token: str | None
    text: str
    idempotency_key: str | None
    id: str
    at: datetime
    path: str  # the create endpoint, e.g. /hooks/alerts
    payload: dict[str, Any]  # what the provider answered (replayed for a repeated key)
    media: tuple[MediaRecord, ...] = ()  # the uploads the post carries, in order


@dataclass(frozen=True)
class Replay:
    kind: str
    token: str | None
    idempotency_key: str
    id: str
    at: datetime


@dataclass(frozen=True)
class Duplicate:
    """Something created more than once at one endpoint for one token."""

    kind: str
    field: Literal["text", "idempotency_key"]
    value: str
    count: int


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(FIRST_ID)
        self._calls: list[CallRecord] = []
        self._creates: list[CreateRecord] = []
        self._replays: list[Replay] = []
        self._by_key: dict[tuple[str, str | None, str], CreateRecord] = {}

    def record_call(self, call: CallRecord) -> None:
        with self._lock:
            self._calls.append(call)

    def create(
        self,
        *,
        kind: str,
        path: str,
        token: str | None,
        text: str,
        key: str | None,
        build: Callable[[str, datetime], dict[str, Any]],
        honour_key: bool = True,
        unique_text: bool = False,
        media: tuple[MediaRecord, ...] = (),
    ) -> tuple[Outcome, dict[str, Any]]:
        """Creates a post with ``build(id, at)`` as its payload, atomically.

        With ``honour_key``, a key already used at ``path`` by ``token`` replays the first
        payload instead. With ``unique_text``, a text already created at ``path`` by
        ``token`` is refused ("duplicate", empty payload).
        """
        with self._lock:
            scope = (path, token, key or "")
            if honour_key and key and scope in self._by_key:
                first = self._by_key[scope]
                self._replays.append(Replay(kind, token, key, first.id, datetime.now(UTC)))
                return "replayed", first.payload
            if unique_text and any(
                c.path == path and c.token == token and c.text == text for c in self._creates
            ):
                return "duplicate", {}
            at = datetime.now(UTC)
            post_id = str(next(self._ids))
            payload = build(post_id, at)
            record = CreateRecord(kind, token, text, key, post_id, at, path, payload, media)
            self._creates.append(record)
            if key:
                self._by_key.setdefault(scope, record)
            return "created", record.payload

    def next_id(self) -> str:
        """A fresh id from the posts' sequence (media ids share it, as on the networks)."""
        with self._lock:
            return str(next(self._ids))

    def find(self, path: str, token: str | None, post_id: str) -> CreateRecord | None:
        with self._lock:
            for record in self._creates:
                if record.path == path and record.token == token and record.id == post_id:
                    return record
        return None

    def created_by(self, path: str, token: str | None) -> list[CreateRecord]:
        """The posts ``token`` created at ``path``, newest first."""
        with self._lock:
            mine = [c for c in self._creates if c.path == path and c.token == token]
        return mine[::-1]

    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    @property
    def creates(self) -> list[CreateRecord]:
        with self._lock:
            return list(self._creates)

    @property
    def replays(self) -> list[Replay]:
        with self._lock:
            return list(self._replays)

    def create_count(
        self, text: str | None = None, key: str | None = None, kind: str | None = None
    ) -> int:
        """How many creates match every given filter (None matches anything)."""
        return sum(
            1
            for c in self.creates
            if (text is None or c.text == text)
            and (key is None or c.idempotency_key == key)
            and (kind is None or c.kind == kind)
        )

    def creates_by_text(self, kind: str | None = None) -> Counter[str]:
        """How many posts were created with each text (of ``kind``, when given)."""
        return Counter(c.text for c in self.creates if kind is None or c.kind == kind)

    def ids_for(self, text: str, kind: str | None = None) -> list[str]:
        """The ids the provider assigned to the creates with ``text``, oldest first."""
        return [c.id for c in self.creates if c.text == text and (kind is None or c.kind == kind)]

    def creates_by_key(self, kind: str | None = None) -> Counter[str]:
        """How many posts were created with each idempotency key (creates without one are
        left out)."""
        return Counter(
            c.idempotency_key
            for c in self.creates
            if c.idempotency_key is not None and (kind is None or c.kind == kind)
        )

    def ids_for_key(self, key: str, kind: str | None = None) -> list[str]:
        """The ids of the creates sent with idempotency key ``key``, oldest first."""
        return [
            c.id
            for c in self.creates
            if c.idempotency_key == key and (kind is None or c.kind == kind)
        ]

    def duplicates(self) -> list[Duplicate]:
        """Texts and keys created more than once at one endpoint by one token."""
        creates = self.creates
        by_text = Counter((c.kind, c.path, c.token, c.text) for c in creates)
        by_key = Counter((c.kind, c.path, c.token, c.idempotency_key) for c in creates)
        found = [Duplicate(k[0], "text", k[3], n) for k, n in by_text.items() if n > 1]
        found += [
            Duplicate(k[0], "idempotency_key", k[3], n)
            for k, n in by_key.items()
            if n > 1 and k[3] is not None
        ]
        return found

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._creates.clear()
            self._replays.clear()
            self._by_key.clear()
