"""Removing secrets from what is recorded: call-log headers and bodies, log lines, events.

Redaction is by name (Authorization, token fields...) and by value (the credential's own
token, wherever it appears), so a provider echoing the token back cannot leak it either.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from publisher.core.constants import CALL_LOG_BODY_LIMIT, REDACTED, SECRET_NAMES


def _is_secret(name: str) -> bool:
    return name.lower() in SECRET_NAMES


def headers(values: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``values`` with secret headers replaced and known secrets scrubbed."""
    found = list(secrets)
    return {
        name: REDACTED if _is_secret(name) else text(value, found) for name, value in values.items()
    }


def text(value: str, secrets: Iterable[str] = ()) -> str:
    """``value`` with every occurrence of each (non-trivial) secret replaced, and without
    NUL characters (PostgreSQL text cannot hold them; a provider may send them)."""
    value = value.replace("\x00", "")
    for secret in secrets:
        if secret and len(secret) >= 4:
            value = value.replace(secret, REDACTED)
    return value


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


def body(raw: bytes | str | None, secrets: Iterable[str] = ()) -> str | None:
    """A request or response body fit for the call log: secrets out, size bounded."""
    if raw is None:
        return None
    decoded = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    with contextlib.suppress(ValueError):  # not JSON: redact it as plain text
        decoded = json.dumps(data(json.loads(decoded)), ensure_ascii=False)
    return truncate(text(decoded, secrets))
