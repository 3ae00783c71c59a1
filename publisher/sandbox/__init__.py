"""A local stand-in for the third-party APIs the publisher calls: Mastodon, X (API v2), a
webhook receiver, a Sentry ingest endpoint and a notification receiver, in one HTTP server.

It exists for the integration tests and the ``publisher demo`` command, never for
production. It injects faults into creates on demand, before or after the post is stored
(see ``faults``; ``STRICT_MIX`` for a chaos soak), fails lookups on request
(``fail_lookups``), and records every call and every created post so a test can assert
"exactly once": ``duplicates() == []``, or per text ``ids_for(text) == [external_id]``.

Each provider kind ("mastodon", "x", "webhook", "bluesky") is helpful or strict. Helpful (the
default) does part of the publisher's job for it: a repeated Idempotency-Key replays the
first answer (Mastodon, webhook) and X refuses a duplicate text with a 403. Strict behaves
like a provider that promises neither: every create creates, so only the publisher's own
reconciliation keeps a post from appearing twice.

    with Sandbox(strict=["x"]) as sandbox:
        requests.post(sandbox.url + "/2/tweets", ...)
        assert sandbox.creates_by_text()["hello"] == 1
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from publisher.sandbox.faults import DEFAULT_MIX, STRICT_MIX, FaultPlan
from publisher.sandbox.ledger import CallRecord, CreateRecord, Duplicate, Replay
from publisher.sandbox.media import MediaRecord
from publisher.sandbox.oauth import TokenServer
from publisher.sandbox.server import SandboxHTTPServer
from publisher.sandbox.state import KINDS, Delivery, Notification, State, strict_kinds

__all__ = [
    "DEFAULT_MIX",
    "KINDS",
    "STRICT_MIX",
    "CallRecord",
    "CreateRecord",
    "Delivery",
    "Duplicate",
    "MediaRecord",
    "Notification",
    "Replay",
    "Sandbox",
]


class Sandbox:
    """The sandbox server: start it, point the publisher at ``url``, assert on the ledger.

    ``fault_rate`` > 0 faults that share of create calls at random (from ``fault_mix``,
    reproducibly with ``seed``); scripted ``[[fault:...]]`` markers work in any mode.
    ``strict`` makes the kinds it names (True: all of ``KINDS``) strict; ``set_strict``
    changes that while the server runs. State survives ``stop()``/``start()`` (same port),
    so a test can take it down and up.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fault_rate: float = 0.0,
        seed: int | None = None,
        fault_mix: Sequence[str] = DEFAULT_MIX,
        slow_seconds: float = 3.0,
        strict: bool | Iterable[str] = False,
    ) -> None:
        self.host = host
        self.port = port
        self.state = State(
            FaultPlan(fault_rate, seed, fault_mix),
            strict=strict_kinds(strict),
            slow_seconds=slow_seconds,
        )
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        """Binds and serves in a daemon thread; returns at once, ready for requests."""
        if self._server is not None:
            return self
        self._server = SandboxHTTPServer((self.host, self.port), self.state)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and drops open connections (a sleeping ``slow`` call included)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8765`` (known once started)."""
        if self._server is None and self.port == 0:
            raise RuntimeError("the sandbox has no port until it is started")
        return f"http://{self.host}:{self.port}"

    @property
    def sentry_dsn(self) -> str:
        return f"http://public@{self.host}:{self.port}/1"

    # The knobs a test turns while the server runs.

    @property
    def strict(self) -> frozenset[str]:
        """The provider kinds that are strict now."""
        return self.state.strict

    def set_strict(self, kinds: bool | Iterable[str]) -> None:
        """Makes exactly ``kinds`` strict (True: every kind, False: none) from the next
        request on; the others turn helpful. Raises ``ValueError`` for an unknown kind."""
        self.state.strict = strict_kinds(kinds)

    @property
    def invalid_tokens(self) -> set[str]:
        """Tokens every provider refuses with 401; mutate this set in place."""
        return self.state.invalid_tokens

    @property
    def oauth(self) -> TokenServer:
        """X's OAuth 2.0 token endpoint: ``issue()`` a grant, ``expire`` a token,
        ``fail`` refreshes, read the refresh ``calls``."""
        return self.state.oauth

    @property
    def slow_seconds(self) -> float:
        return self.state.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        self.state.slow_seconds = value

    @property
    def latency_seconds(self) -> float:
        """How much later every provider request (one with a bearer token) is answered:
        a slow but healthy provider, so that concurrent calls overlap. 0 by default."""
        return self.state.latency_seconds

    @latency_seconds.setter
    def latency_seconds(self, value: float) -> None:
        self.state.latency_seconds = value

    @property
    def throttle_seconds(self) -> int:
        """What a scripted or random 429 asks the client to wait, in ``Retry-After`` and
        the provider's rate-limit reset header (1 s by default)."""
        return self.state.faults.throttle_seconds

    @throttle_seconds.setter
    def throttle_seconds(self, value: int) -> None:
        self.state.faults.throttle_seconds = value

    @property
    def fault_rate(self) -> float:
        return self.state.faults.rate

    @fault_rate.setter
    def fault_rate(self, value: float) -> None:
        self.state.faults.rate = value

    def fail_lookups(self, times: int | None, status: int = 503, token: str | None = None) -> None:
        """Fails the next ``times`` lookup GETs (None: every one until ``fail_lookups(0)``),
        by ``token`` only when given, with ``status`` in the provider's error format (0:
        reset the connection). Lookup GETs are Mastodon ``verify_credentials`` and account
        statuses, X ``users/me`` and user tweets. Replaces any earlier arming; thread-safe.
        """
        self.state.lookup_faults.arm(times, status, token)

    @property
    def failed_lookups(self) -> int:
        """How many lookup GETs ``fail_lookups`` has failed since the last ``reset``."""
        return self.state.lookup_faults.served

    @property
    def media_processing_polls(self) -> int:
        """How many status polls an upload stays "processing" for (Mastodon: any file;
        X: a GIF or video); 0, the default: ready at once."""
        return self.state.media_processing_polls

    @media_processing_polls.setter
    def media_processing_polls(self, value: int) -> None:
        self.state.media_processing_polls = value

    @property
    def uploads(self) -> list[MediaRecord]:
        """Every media file uploaded to the fake Mastodon and X, with its description;
        a ``CreateRecord.media`` holds those its post carried."""
        return self.state.media.records

    @property
    def notify_status(self) -> int:
        return self.state.notify_status

    @notify_status.setter
    def notify_status(self, value: int) -> None:
        self.state.notify_status = value

    # What the sandbox saw: copies, safe to read while the server runs.

    @property
    def calls(self) -> list[CallRecord]:
        return self.state.ledger.calls

    @property
    def creates(self) -> list[CreateRecord]:
        return self.state.ledger.creates

    @property
    def replays(self) -> list[Replay]:
        return self.state.ledger.replays

    @property
    def deliveries(self) -> list[Delivery]:
        return self.state.deliveries.snapshot()

    @property
    def sentry_events(self) -> list[dict[str, Any]]:
        return self.state.sentry_events.snapshot()

    @property
    def sentry_check_ins(self) -> list[dict[str, Any]]:
        """Sentry Crons check-ins (the sweep's monitor)."""
        return self.state.sentry_check_ins.snapshot()

    @property
    def notifications(self) -> list[Notification]:
        return self.state.notifications.snapshot()

    def create_count(
        self, text: str | None = None, key: str | None = None, kind: str | None = None
    ) -> int:
        """How many posts were created matching every given filter."""
        return self.state.ledger.create_count(text, key, kind)

    def creates_by_text(self, kind: str | None = None) -> Counter[str]:
        """How many posts were created with each text (exactly once: every count is 1)."""
        return self.state.ledger.creates_by_text(kind)

    def ids_for(self, text: str, kind: str | None = None) -> list[str]:
        """The ids the provider assigned to the posts created with ``text``, oldest first
        (exactly once, done with the provider's id: ``ids_for(text) == [external_id]``)."""
        return self.state.ledger.ids_for(text, kind)

    def creates_by_key(self, kind: str | None = None) -> Counter[str]:
        """How many posts were created with each idempotency key (creates sent without a
        key are left out)."""
        return self.state.ledger.creates_by_key(kind)

    def ids_for_key(self, key: str, kind: str | None = None) -> list[str]:
        """The ids of the posts created with idempotency key ``key``, oldest first."""
        return self.state.ledger.ids_for_key(key, kind)

    def max_in_flight(self, method: str, path: str, token: str | None) -> int:
        """The most requests with this method, path (no query) and bearer token that were
        ever in flight at once, since the start or the last ``reset`` (0: none seen)."""
        return self.state.in_flight.peak(method, path, token)

    def duplicates(self) -> list[Duplicate]:
        """Texts and idempotency keys created more than once (exactly-once wants [])."""
        return self.state.ledger.duplicates()

    def reset(self) -> None:
        """Forgets all calls, creates, captures, fault counters and invalid tokens, and
        disarms ``fail_lookups``; keeps the settings (which kinds are strict, the fault
        rate, slowness)."""
        self.state.clear()
