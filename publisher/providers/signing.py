"""HMAC-SHA256 signatures over request bodies.

Webhook calls and notifications carry ``X-Publisher-Signature: sha256=<hex>`` so the
receiver can check that the exact body bytes came from us. The secret is shared with the
receiver (for webhooks, the credential's token).
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "sha256="  # the prefix names the algorithm, as GitHub's webhooks do


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``"sha256=" + hex HMAC-SHA256``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SCHEME + digest


def verify(body: bytes, secret: str, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret``.

    Compares in constant time; never raises on a malformed header.
    """
    expected = sign(body, secret).encode("ascii")
    return hmac.compare_digest(expected, header.encode("utf-8", "surrogatepass"))
