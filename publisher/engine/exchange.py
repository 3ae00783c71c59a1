"""Making one HTTP call to a provider and capturing what happened as a value.

``perform`` never raises for network trouble: a refused connection, a reset, a timeout
and a response all come back as an ``Exchange``, with ``ambiguous`` telling whether the
provider may have acted on the request although no answer came back. Every call ends by
its deadline (connect, send and the whole answer together, see ``deadline``) and reads at
most ``MAX_RESPONSE_BYTES`` of the answer; a bigger answer is unreadable.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests

from publisher.engine.constants import MAX_RESPONSE_BYTES
from publisher.engine.deadline import DeadlineAdapter, ForbiddenDestination, destinations, guarded
from publisher.errors import LookupFailed
from publisher.providers.base import PreparedCall

USER_AGENT = "publisher/0.1 (+https://github.com/)"
HOSTS_KEPT = 32  # provider hosts whose connection pool a process keeps (least recent go)


@dataclass(frozen=True)
class Exchange:
    """One request and what came back (a response, or the error in its place)."""

    call: PreparedCall
    sent_body: bytes | None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None  # exception class and message when no response came
    ambiguous: bool = False  # the provider may have created the post anyway
    duration_ms: float = 0.0
    oversized: bool = False  # the answer was longer than MAX_RESPONSE_BYTES: unreadable
    forbidden: bool = False  # the host resolved to a forbidden address: nothing was sent

    def json(self) -> Any:
        """The body parsed as JSON, the text if it is not JSON, None if there is none."""
        if self.body is None:
            return None
        text = self.body.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text


def new_session(per_host: int = 32) -> requests.Session:
    """A pooled session for one process, shared by its threads: a keep-alive pool per
    provider host holding ``per_host`` connections (size it to the calls in flight, so
    none is opened and thrown away per call)."""
    session = requests.Session()
    adapter = DeadlineAdapter(pool_connections=HOSTS_KEPT, pool_maxsize=per_host, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # One session serves every account: a cookie set for one must never go out with
    # another's call (nor pile up in memory), so none is kept.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    _environment_once(session)
    return session


def _environment_once(session: requests.Session) -> None:
    """Read the environment's HTTP settings once, not on every request.

    With ``trust_env`` requests scans every environment variable for proxies and stats
    ``~/.netrc`` per request (a tenth of a publish's CPU). Without a proxy configured,
    the session stops looking: the CA bundle variables are read here instead, and a
    ``.netrc`` password is never sent to a provider. With one, requests keeps its own
    handling (``no_proxy`` included).
    """
    if urllib.request.getproxies():
        return
    session.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


def _encode(call: PreparedCall) -> tuple[bytes | None, dict[str, str]]:
    headers = dict(call.headers)
    if call.data is not None:
        return call.data, headers
    if call.json is None:
        return None, headers
    headers.setdefault("Content-Type", "application/json")
    return json.dumps(call.json, separators=(",", ":")).encode(), headers


def _is_ambiguous(exc: requests.RequestException) -> bool:
    """Could the request have reached the provider? Only a failed connect says no."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc)
        return not any(
            s in text for s in ("NewConnectionError", "NameResolutionError", "Connection refused")
        )
    return True


def forbidden_cause(exc: BaseException) -> ForbiddenDestination | None:
    """The ``ForbiddenDestination`` behind a ``requests`` error, if that is what it was."""
    seen: object = exc
    for _ in range(4):  # requests error -> urllib3 MaxRetryError -> its reason
        if isinstance(seen, ForbiddenDestination):
            return seen
        reason = getattr(seen, "reason", None)
        args = getattr(seen, "args", ())
        seen = reason if reason is not None else (args[0] if args else None)
    return None


def perform(
    session: requests.Session,
    call: PreparedCall,
    timeout: tuple[float, float],
    deadline: float | None = None,
    allow_private: bool = True,
) -> Exchange:
    """Send ``call`` once (no retries here: the engine decides) and record the result.

    ``timeout`` bounds the connect and each read; ``deadline`` (``time.monotonic()``,
    default: now plus both timeouts) ends the whole call, answer included. A host that
    resolves to a link-local or metadata address (or, unless ``allow_private``, to a
    loopback or private one) is not called: the exchange says ``forbidden``.
    """
    body, headers = _encode(call)
    started = time.perf_counter()
    if deadline is None:
        deadline = time.monotonic() + sum(timeout)
    with destinations(allow_private), guarded(deadline) as guard:
        try:
            response = _send(session, call, body, headers, timeout)
            try:
                content, oversized = _read(response)
            finally:
                response.close()
        except requests.RequestException as exc:
            refused = forbidden_cause(exc)
            if refused is not None:
                return replace(
                    _failed(call, body, started, f"forbidden destination: {refused}", False, False),
                    forbidden=True,
                )
            return _failed(
                call,
                body,
                started,
                f"{exc.__class__.__name__}: {exc}",
                guard.fired,
                _is_ambiguous(exc),
            )
    if guard.fired:  # cut off mid-answer: what was read may parse, but it is not the answer
        return _failed(call, body, started, "the connection was cut", True, True)
    return Exchange(
        call=call,
        sent_body=body,
        status=response.status_code,
        headers=dict(response.headers),
        body=content,
        duration_ms=(time.perf_counter() - started) * 1000,
        oversized=oversized,
    )


def _send(
    session: requests.Session,
    call: PreparedCall,
    body: bytes | None,
    headers: dict[str, str],
    timeout: tuple[float, float],
) -> requests.Response:
    """One request, no redirects followed, the body left to ``_read``.

    A session that reads nothing from the environment (``_environment_once``) keeps no
    cookies, auth, hooks, params or proxies to merge, so the request is prepared here
    and sent as is: ``Session.request``'s merging costs a sixth of a publish's CPU
    (runtime ``Protocol`` checks on every mapping). With a proxy configured, requests
    does it all, as it always has.
    """
    if session.trust_env:
        return session.request(
            call.method,
            call.url,
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=call.method, url=call.url, headers={**session.headers, **headers}, data=body
    )
    return session.send(
        prepared,
        timeout=timeout,
        allow_redirects=False,
        stream=True,
        verify=session.verify,
        cert=session.cert,
        proxies={},
    )


def _failed(
    call: PreparedCall,
    body: bytes | None,
    started: float,
    error: str,
    deadline_passed: bool,
    ambiguous: bool,
) -> Exchange:
    if deadline_passed:
        error = f"deadline passed before the answer was complete ({error})"
    return Exchange(
        call=call,
        sent_body=body,
        error=error,
        ambiguous=ambiguous or deadline_passed,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _read(response: requests.Response) -> tuple[bytes, bool]:
    """The body, cut at ``MAX_RESPONSE_BYTES``; True when there was more."""
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return b"".join(parts)[:MAX_RESPONSE_BYTES], True
    return b"".join(parts), False


def json_of(exchange: Exchange) -> Any:
    """A lookup's JSON body; raises ``LookupFailed`` unless it is a readable 2xx."""
    if exchange.status is None:
        raise LookupFailed(exchange.error or "no answer")
    if not 200 <= exchange.status < 300:
        # The status and body ride along: a provider may read "not there" out of an
        # error answer (Bluesky's getRecord says RecordNotFound with a 400).
        raise LookupFailed(f"HTTP {exchange.status}", status=exchange.status, body=exchange.json())
    if exchange.oversized:
        raise LookupFailed(f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(exchange.body or b"")
    except ValueError:
        raise LookupFailed(f"HTTP {exchange.status} with a body that is not JSON") from None
