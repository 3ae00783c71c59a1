"""Removing secrets from what is recorded: call-log headers and bodies, log lines, events.

Redaction is by name (Authorization, token fields...) and by value: a ``Redactor`` built
from the credential's own token replaces it, and its common encodings (repr and JSON
escapes, URL encoding, base64 as in a ``Basic`` header), wherever they appear, so a
provider echoing the token back cannot leak it either. The worker builds one per job and
makes it ``active`` for the job's duration, so log lines (``LogFilter``), Sentry events and
call-log rows written deep in the engine are scrubbed with it too.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import html
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from publisher.core.constants import CALL_LOG_BODY_LIMIT, REDACTED, SECRET_NAMES

# A secret shorter than this is not searched for: it would match ordinary words.
MIN_SECRET = 4
# A text ending in a prefix of a secret this long (or longer) was cut mid-secret (a
# message bounded in length); shorter prefixes are too common to tell.
MIN_CUT_PREFIX = 6


def _is_secret(name: str) -> bool:
    return name.lower() in SECRET_NAMES


def _base64_cores(raw: bytes) -> set[str]:
    """What ``raw`` looks like inside any base64 text (``base64(user:token)`` included):
    for each of the three alignments, the characters that depend on ``raw`` alone."""
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode().rstrip("=")
        start = {0: 0, 1: 2, 2: 3}[shift]  # characters that hold bits of the padding
        end = len(encoded) - (1 if (shift + len(raw)) % 3 else 0)  # bits of what follows
        core = encoded[start:end]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    cores.add(base64.b64encode(raw).decode())  # the whole of base64(token), padding too
    return cores


def encodings(secret: str) -> set[str]:
    """``secret`` and the ways it is commonly written in messages and bodies."""
    found = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        quote_plus(secret, safe=""),
        html.escape(secret),
        secret.encode("unicode_escape").decode(),
    }
    found |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), s) for s in set(found)}
    found |= _base64_cores(secret.encode())
    return {s for s in found if len(s) >= MIN_SECRET}


class Redactor:
    """Replaces given secrets, in every encoding ``encodings`` knows, with ``REDACTED``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        needles: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET:
                needles |= encodings(secret)
        # Longest first: an encoding that contains another is replaced whole.
        self.needles = tuple(sorted(needles, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self.needles)

    def __call__(self, value: str) -> str:
        """``value`` without the secrets; a secret cut off at its end goes too."""
        for needle in self.needles:
            if needle in value:
                value = value.replace(needle, REDACTED)
        for needle in self.needles:
            value = _cut_at_end(value, needle)
        return value

    def data(self, value: Any) -> Any:
        """Every string in a JSON-like structure (a Sentry event) redacted."""
        if not self.needles:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _cut_at_end(value: str, needle: str) -> str:
    """``value`` with the longest start of ``needle`` (``MIN_CUT_PREFIX`` characters at
    least) that ends it replaced: a secret cut off by a length limit. Only the places
    where the needle's first character occurs in the tail are tried, on the hot path."""
    first = needle[0]
    at = value.find(first, max(0, len(value) - len(needle) + 1))
    while at != -1 and len(value) - at >= MIN_CUT_PREFIX:
        if needle.startswith(value[at:]):
            return value[:at] + REDACTED
        at = value.find(first, at + 1)
    return value


NOTHING = Redactor()

_active: contextvars.ContextVar[Redactor] = contextvars.ContextVar(
    "publisher_redactor", default=NOTHING
)


def active() -> Redactor:
    """The redactor of the job (or request) being handled; redacts nothing outside one."""
    return _active.get()


@contextlib.contextmanager
def activated(redactor: Redactor) -> Iterator[Redactor]:
    """Make ``redactor`` (plus any already active) the active one inside this block."""
    combined = Redactor()
    combined.needles = tuple(sorted({*redactor.needles, *active().needles}, key=len, reverse=True))
    token = _active.set(combined)
    try:
        yield combined
    finally:
        _active.reset(token)


def _redactor(secrets: Iterable[str] | Redactor) -> Redactor:
    return secrets if isinstance(secrets, Redactor) else Redactor(secrets)


def headers(values: Mapping[str, str], secrets: Iterable[str] | Redactor = ()) -> dict[str, str]:
    """A copy of ``values`` with secret headers replaced and known secrets scrubbed."""
    scrub = _redactor(secrets)
    return {
        name: REDACTED if _is_secret(name) else text(value, scrub) for name, value in values.items()
    }


def text(value: str, secrets: Iterable[str] | Redactor = ()) -> str:
    """``value`` with every occurrence of each (non-trivial) secret replaced, and without
    NUL characters (PostgreSQL text cannot hold them; a provider may send them)."""
    return _redactor(secrets)(value.replace("\x00", ""))


def data(value: Any) -> Any:
    """A JSON-like structure with the values of secret-named keys replaced."""
    if isinstance(value, Mapping):
        return {k: REDACTED if _is_secret(str(k)) else data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [data(v) for v in value]
    return value


def truncate(value: str, limit: int = CALL_LOG_BODY_LIMIT) -> str:
    if len(value) <= limit:
        return value
    return value[:limit] + f"... [{len(value) - limit} more characters]"


def body(raw: bytes | str | None, secrets: Iterable[str] | Redactor = ()) -> str | None:
    """A request or response body fit for the call log: secrets out, size bounded."""
    if raw is None:
        return None
    decoded = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    with contextlib.suppress(ValueError):  # not JSON: redact it as plain text
        decoded = json.dumps(data(json.loads(decoded)), ensure_ascii=False)
    return truncate(text(decoded, secrets))


class LogFilter(logging.Filter):
    """Scrubs the active redactor's secrets from a record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = active()
        if not scrub:
            return True
        try:
            record.msg, record.args = scrub(record.getMessage()), None
            if record.exc_info:
                formatted = logging.Formatter().formatException(record.exc_info)
                record.exc_text = scrub(formatted)
            elif record.exc_text:
                record.exc_text = scrub(record.exc_text)
        except Exception:  # a record that cannot be formatted: let logging report it
            return True
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Put a ``LogFilter`` on every handler of ``logger`` (the root logger by default), once;
    safe to call again after logging was reconfigured (new handlers get one too)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, LogFilter) for f in handler.filters):
            handler.addFilter(LogFilter())
