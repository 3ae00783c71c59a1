"""Faults the sandbox injects into create calls, on demand.

Two ways to ask for them: a post whose text carries ``[[fault:503,429,ok]]`` gets those
faults on its 1st, 2nd, 3rd create call, then ``ok`` forever (calls are counted per
endpoint and idempotency key, or per exact text when no key is sent); or a ``FaultPlan``
with a ``rate`` picks a fault from a mix for any create call (the chaos soak). Neither
touches lookups (``lookup_faults`` fails those on request).

A fault either answers instead of creating (``before_create``: nothing is stored) or
alters the answer of a real create (``AFTER_STORE``: the post exists, yet the client
learns nothing useful): ``malformed`` answers garbage, ``slow`` answers after
``slow_seconds`` (longer than a client's timeout), ``reset_after`` resets the connection
without answering, ``502_after``/``503_after``/``504_after`` answer that status as a
gateway in front of a provider that did the work would. Each provider renders errors in its
own ``Dialect``. The ``echo_*`` faults play a careless provider that repeats the caller's
``Authorization`` header (raw, base64- and URL-encoded): in an error body (``echo_auth``),
in a redirect (``echo_redirect``) and in a status line no client can parse, which ends up
in the client's exception message (``echo_status``). ``graph_usage:NN`` creates and
answers as usual, reporting Graph's business-use-case usage at NN% (``business_usage``).
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import quote, quote_plus

from publisher.sandbox.wire import BadRequest, Response, json_response

MARKER = re.compile(r"\[\[fault:([^\]]*)\]\]")

# Faults that answer with an error instead of creating: (status, message).
HTTP_FAULTS: Mapping[str, tuple[int, str]] = {
    "503": (503, "Service Unavailable"),
    "500": (500, "Internal Server Error"),
    "429": (429, "Too many requests"),
    "403": (403, "This action is not allowed"),
    "422": (422, "Validation failed: Text can't be blank"),
}
# X's classic error codes: code -> (HTTP status, message). Unknown codes answer 400.
X_CODES: Mapping[int, tuple[int, str]] = {
    32: (401, "Could not authenticate you."),
    64: (403, "Your account is suspended and is not permitted to access this feature."),
    88: (429, "Rate limit exceeded."),
    89: (401, "Invalid or expired token."),
    130: (503, "Over capacity."),
    131: (500, "Internal error."),
    185: (403, "User is over daily status update limit."),
    186: (403, "Tweet needs to be a bit shorter."),
    187: (403, "Status is a duplicate."),
    226: (403, "This request looks like it might be automated."),
    261: (403, "Application cannot perform write actions."),
    326: (403, "To protect our users from spam, this account is temporarily locked."),
}
# Facebook Graph error codes: code -> (HTTP status, message), answered as Graph's
# ``{"error": {"code", "message", ...}}``; unknown codes answer 400. Source:
# https://developers.facebook.com/docs/graph-api/guides/error-handling
GRAPH_CODES: Mapping[int, tuple[int, str]] = {
    1: (500, "An unknown error occurred"),
    2: (503, "An unexpected error has occurred. Please retry your request later."),
    4: (400, "Application request limit reached"),
    10: (403, "Permission denied"),
    32: (400, "Page request limit reached"),
    190: (400, "Error validating access token: Session has expired"),
    200: (403, "Permissions error"),
    368: (400, "The action attempted has been deemed abusive or is otherwise disallowed"),
    506: (400, "Duplicate status message"),
}
# Faults that store the post, then answer this error instead of the post.
AFTER_STATUS: Mapping[str, tuple[int, str]] = {
    "502_after": (502, "Bad Gateway"),
    "503_after": (503, "Service Unavailable"),
    "504_after": (504, "Gateway Timeout"),
}
# Faults that store the post, then hide it from the client.
AFTER_STORE = ("malformed", "slow", "reset_after", *AFTER_STATUS)
# Faults that echo the caller's Authorization header back (see the module docstring).
ECHO_FAULTS = ("echo_auth", "echo_redirect", "echo_status")
NAMES = (
    "ok",
    *HTTP_FAULTS,
    "401",
    "reset",
    *ECHO_FAULTS,
    *AFTER_STORE,
    "x_code:NNN",
    "graph_code:NNN",
    "graph_usage:NN",
)
CODED = ("x_code", "graph_code", "graph_usage")  # faults named "<kind>:<number>"
# Faults that create as "ok" does and only add to the answer's headers.
REPORTING = ("graph_usage",)
# How long a throttled Page waits, as Graph estimates it (estimated_time_to_regain_access,
# minutes): short for tests, yet longer than the minute a client may pause on usage near
# 100% alone, so a test tells Graph's estimate apart from that pause.
REGAIN_MINUTES = 2
GRAPH_THROTTLE_APP = (4, 17)  # app and user limits: X-App-Usage at 100%
GRAPH_THROTTLE_PAGE = (32, 613, 80001)  # a Page token's limits: X-Business-Use-Case-Usage
# The random mix: failures a correct client must survive without a duplicate.
DEFAULT_MIX = ("503", "500", "429", "reset", "slow", "malformed")
# The chaos soak's mix against strict providers: refusals before the store (nothing
# created) and ambiguous answers after it (created, the client cannot tell), so only
# reconciliation keeps a retry from posting twice.
STRICT_MIX = (
    "503",
    "429",
    "reset",
    "reset_after",
    "502_after",
    "503_after",
    "504_after",
    "slow",
    "malformed",
)


@dataclass(frozen=True)
class Fault:
    name: str
    code: int | None = None  # for x_code, graph_code and graph_usage

    @property
    def before_create(self) -> bool:
        """Answers instead of creating (False: the create runs first)."""
        return self.name not in ("ok", *AFTER_STORE, *REPORTING)


OK = Fault("ok")


def parse_fault(name: str) -> Fault:
    """The fault called ``name``; raises ``ValueError`` for an unknown name."""
    name = name.strip()
    kind, _, number = name.partition(":")
    if kind in CODED and number.isdigit():
        return Fault(kind, int(number))
    if name not in NAMES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(NAMES)}")
    return Fault(name)


def script_of(text: str) -> tuple[Fault, ...] | None:
    """The faults scripted in ``text``'s marker, or None when it has none."""
    found = MARKER.search(text)
    if found is None:
        return None
    try:
        return tuple(parse_fault(part) for part in found.group(1).split(",") if part.strip())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


class FaultPlan:
    """Decides the fault of each create call; thread-safe."""

    def __init__(
        self, rate: float = 0.0, seed: int | None = None, mix: Sequence[str] = DEFAULT_MIX
    ) -> None:
        self.rate = rate
        self.throttle_seconds = 1  # what a 429 asks to wait (Retry-After, reset)
        self.mix = tuple(parse_fault(name) for name in mix)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def next(self, scope: str, text: str, key: str | None) -> Fault:
        """The fault for this call at endpoint ``scope`` (a scripted one counts as used)."""
        script = script_of(text)
        with self._lock:
            if script is not None:
                counter = (scope, "key", key) if key else (scope, "text", text)
                seen = self._counts[counter]
                self._counts[counter] += 1
                return script[seen] if seen < len(script) else OK
            if self.rate > 0 and self.mix and self._random.random() < self.rate:
                return self._random.choice(self.mix)
        return OK

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class Dialect(Protocol):
    """How one provider words its errors."""

    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        """An error response in this provider's format."""
        ...

    def unauthorized(self) -> Response:
        """This provider's answer to an invalid token."""
        ...

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        """The headers of a 429 whose window resets at ``until``."""
        ...


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def echo(name: str, authorization: str) -> Response:
    """A careless provider's answer that repeats ``authorization`` (the header's value)."""
    token = authorization.partition(" ")[2] or authorization
    if name == "echo_redirect":
        where = f"https://login.example/cb?token={quote_plus(token)}&basic={_b64('user:' + token)}"
        body = f"Moved: see https://login.example/?t={quote(token, safe='')}"
        return Response(302, body.encode(), {"Location": where, "Content-Type": "text/plain"})
    if name == "echo_status":
        return Response(0, raw=f"HTTP/1.1 abc {authorization}\r\n\r\n".encode())
    details = {"token_b64": _b64(token), "basic": _b64("user:" + token), "quoted": quote(token)}
    message = f"invalid request; you sent Authorization: {authorization} ({token!r})"
    return json_response(400, {"error": message, "debug": details})


def refusal(
    fault: Fault,
    dialect: Dialect,
    throttle_seconds: int = 1,
    authorization: str | None = None,
) -> Response:
    """The answer of a ``before_create`` fault, in ``dialect``; a 429 says to wait
    ``throttle_seconds``; an echo fault repeats ``authorization``."""
    if fault.name in ECHO_FAULTS:
        return echo(fault.name, authorization or "")
    if fault.name == "reset":
        return Response(0, reset=True)
    if fault.name == "401":
        return dialect.unauthorized()
    if fault.name == "x_code":
        code = fault.code or 0
        status, message = X_CODES.get(code, (400, f"Sandbox error code {code}."))
        headers = _throttle_headers(dialect, throttle_seconds) if status == 429 else {}
        return json_response(status, {"errors": [{"code": code, "message": message}]}, headers)
    if fault.name == "graph_code":
        return graph_refusal(fault.code or 0)
    status, message = HTTP_FAULTS[fault.name]
    throttle = _throttle_headers(dialect, throttle_seconds) if status == 429 else None
    return dialect.error(status, message, throttle)


def graph_refusal(code: int) -> Response:
    """Graph's answer for error ``code``: no Retry-After (Graph sends none); an app or
    user throttling code reports the app's usage at 100% in ``X-App-Usage``, a Page's
    reports its business-use-case usage at 100% with ``REGAIN_MINUTES`` to wait."""
    status, message = GRAPH_CODES.get(code, (400, f"Sandbox error code {code}."))
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Sbx"}
    headers: dict[str, str] = {}
    if code in GRAPH_THROTTLE_APP:
        headers = {"X-App-Usage": '{"call_count":100,"total_cputime":10,"total_time":10}'}
    elif code in GRAPH_THROTTLE_PAGE:
        headers = business_usage(100, REGAIN_MINUTES)
    return json_response(status, {"error": error}, headers)


def business_usage(call_count: int, regain_minutes: int = 0) -> dict[str, str]:
    """Graph's ``X-Business-Use-Case-Usage`` for the sandbox's Page (id 1000): its
    calls at ``call_count``% of the limit, ``regain_minutes`` until calls pass again."""
    usage = {
        "type": "pages",
        "call_count": call_count,
        "total_cputime": 1,
        "total_time": 1,
        "estimated_time_to_regain_access": regain_minutes,
    }
    return {"X-Business-Use-Case-Usage": json.dumps({"1000": [usage]})}


def alter(fault: Fault, response: Response, slow_seconds: float, dialect: Dialect) -> Response:
    """The answer to a create that ran, under ``ok`` or an ``AFTER_STORE`` fault (the
    status faults and ``reset_after`` hide even an error the create answered)."""
    if fault.name == "malformed" and 200 <= response.status < 300:
        return Response(response.status, b"{not json", {"Content-Type": "application/json"})
    if fault.name == "slow":
        return replace(response, delay=slow_seconds)
    if fault.name == "graph_usage":
        return replace(response, headers={**response.headers, **business_usage(fault.code or 0)})
    if fault.name == "reset_after":
        return Response(0, reset=True)
    if fault.name in AFTER_STATUS:
        return dialect.error(*AFTER_STATUS[fault.name])
    return response


def with_faults(
    plan: FaultPlan,
    slow_seconds: float,
    dialect: Dialect,
    scope: str,
    text: str,
    key: str | None,
    create: Callable[[], Response],
    authorization: str | None = None,
) -> Response:
    """Runs ``create`` under the fault ``plan`` chooses for this call (``authorization``:
    the request's header, for the ``echo_*`` faults)."""
    fault = plan.next(scope, text, key)
    if fault.before_create:
        return refusal(fault, dialect, plan.throttle_seconds, authorization)
    return alter(fault, create(), slow_seconds, dialect)


def _throttle_headers(dialect: Dialect, seconds: int) -> dict[str, str]:
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    return {"Retry-After": str(seconds), **dialect.rate_limit_headers(until)}
