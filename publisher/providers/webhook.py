"""Webhook: publish by POSTing the post, signed, to a receiver's URL.

The body is serialised once (compact JSON, sorted keys) and those exact bytes are both
sent and signed with HMAC-SHA256 keyed by the credential's token
(``X-Publisher-Signature``, see ``providers.signing``), so the receiver can verify them.
The receiver contract (README, "Never twice, never lost"): keep each ``Idempotency-Key``
for at least ``KEY_WINDOW`` and answer a repeat with 2xx or 409 without acting twice.
That key is all a re-send after an ambiguous attempt can rely on: there is no way to
look a post up afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from publisher.errors import LookupFailed
from publisher.providers.base import (
    Category,
    ErrorRule,
    GetJson,
    MediaUploader,
    PreparedCall,
    ProviderError,
    Published,
    PublishRequest,
)
from publisher.providers.media_rule import WEBHOOK as WEBHOOK_MEDIA
from publisher.providers.media_rule import MediaRule
from publisher.providers.signing import sign
from publisher.providers.text.rule import TextRule, code_point_rule

SIGNATURE_HEADER = "X-Publisher-Signature"
# How long the receiver contract asks receivers to remember an Idempotency-Key (as long
# as Stripe keeps its keys); past it, an ambiguous delivery is not sent again.
KEY_WINDOW = timedelta(hours=24)

# An HTML error page can be large; the message only needs its start.
MAX_MESSAGE = 500

# First matching row wins; a status not listed is left unclassified.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAUTHORIZED, status=401),
    ErrorRule(Category.FORBIDDEN, status=403),
    ErrorRule(Category.FORBIDDEN, status=404),  # the URL is wrong: retrying cannot help
    ErrorRule(Category.FORBIDDEN, status=410),
    ErrorRule(Category.FORBIDDEN, status=422),
    ErrorRule(Category.DUPLICATE, status=409),  # the receiver already has this key
    ErrorRule(Category.UNAVAILABLE, status=408),
    ErrorRule(Category.UNAVAILABLE, status=425),
    ErrorRule(Category.UNAVAILABLE, status=429),
    ErrorRule(Category.UNAVAILABLE, status=500),
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)


def encode_body(request: PublishRequest) -> bytes:
    """The exact bytes sent and signed: compact JSON with sorted keys, ASCII-escaped.

    Deterministic: the same request always gives the same bytes.
    """
    payload: dict[str, Any] = {
        "idempotency_key": request.idempotency_key,
        "options": dict(request.options),
        "text": request.text,
    }
    if request.parts > 1:  # a thread: one delivery per part, each naming the one before
        payload |= {"part": request.part + 1, "parts": request.parts}
        payload["in_reply_to"] = request.reply_to
    if request.media:
        payload["media"] = [dict(item) for item in request.media]
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("ascii")


class WebhookProvider:
    """Publishes to one receiver URL; stateless, safe to share between threads."""

    name: str = "webhook"
    text_rule: TextRule = code_point_rule(100_000)
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = KEY_WINDOW
    can_lookup: bool = False
    media_rule: MediaRule = WEBHOOK_MEDIA  # media go as URLs in the payload
    uploader: MediaUploader | None = None  # media travel as URLs in the payload
    threads: bool = True  # one delivery per part, each naming the one before

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``POST`` to ``base_url`` itself with the signed body as raw ``data``."""
        body = encode_body(request)
        return PreparedCall(
            method="POST",
            url=request.base_url,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {request.token}",
                "Idempotency-Key": request.idempotency_key,
                SIGNATURE_HEADER: sign(body, request.token),
            },
            data=body,
        )

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """Any 2xx is a success: the body's ``id`` and ``url`` when it is a JSON object
        with an id, else the request's idempotency key as the id.

        Returns None for a non-2xx status, or for a 2xx without an id in the body when
        ``request`` is not given (the Protocol does not pass it yet).
        """
        if not 200 <= status < 300:
            return None
        if isinstance(body, Mapping) and body.get("id") not in (None, ""):
            url = body.get("url")
            return Published(str(body["id"]), url if isinstance(url, str) else None)
        if request is None:
            return None
        return Published(request.idempotency_key)

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """The body's ``error``, ``message`` or ``detail``, else its text, else the
        status; its ``code`` when it has one.
        """
        message = f"HTTP {status}"
        codes: tuple[int | str, ...] = ()
        if isinstance(body, Mapping):
            found = [body[key] for key in ("error", "message", "detail") if key in body]
            texts = [text for text in found if isinstance(text, str) and text.strip()]
            message = texts[0] if texts else message
            code = body.get("code")
            if isinstance(code, int | str) and not isinstance(code, bool):
                codes = (code,)
        elif isinstance(body, str | bytes) and body.strip():
            message = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return ProviderError(message=message.strip()[:MAX_MESSAGE], codes=codes)

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """A receiver offers no way to look a post up: always ``LookupFailed``."""
        raise LookupFailed("a webhook receiver cannot be asked what it received")
