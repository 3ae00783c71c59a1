"""A Bluesky post as an AT Protocol record: its key, its rich-text facets, its thread refs.

Pure values and functions the Bluesky provider (``providers.bluesky``) builds its
``createRecord`` request from.

- **The record key** is a TID derived from the part's idempotency key, so every attempt
  at one part writes the same ``at://{did}/app.bsky.feed.post/{rkey}`` and a lookup after
  an ambiguous attempt is one exact ``getRecord``. A TID is 13 characters of
  base32-sortable (``234567abcdefghijklmnopqrstuvwxyz``) over a 64-bit integer: the top
  bit 0, 53 bits of microseconds since the UNIX epoch, a 10-bit clock id
  (https://atproto.com/specs/tid; a post's key type is ``tid``,
  https://atproto.com/specs/record-key). The timestamp is taken from the digest within a
  window starting at ``TID_EPOCH``, in the past, so a derived key never sorts after the
  account's new posts. The spec warns a TID is not guaranteed unique ("an adversarial
  party can easily create new records reusing known TIDs"): here 50 digest bits per part.
- **Facets**: a link in the text is an ``app.bsky.richtext.facet`` with a ``#link``
  feature whose ``index`` counts UTF-8 *bytes* (``byteStart`` inclusive, ``byteEnd``
  exclusive), https://docs.bsky.app/docs/advanced-guides/post-richtext.
- **Mentions**: ``@handle`` is an ``app.bsky.richtext.facet`` with a ``#mention`` feature
  naming the account's DID, indexed in UTF-8 bytes like a link; the handle is resolved by
  ``com.atproto.identity.resolveHandle`` (https://docs.bsky.app/docs/advanced-guides/
  post-richtext "Mentions": a handle that does not resolve stays plain text). The
  handle syntax is https://atproto.com/specs/handle.
- **Thread refs**: a reply names its thread's ``root`` and its ``parent``, each a strong
  ref ``{uri, cid}`` (lexicons/app/bsky/feed/post.json ``#replyRef``,
  lexicons/com/atproto/repo/strongRef.json in https://github.com/bluesky-social/atproto).
  The engine hands a part only the previous part's external id, so a part's external id
  carries what its successor needs: ``"{uri} {cid}"`` for the first part, and
  ``"{uri} {cid} {root uri} {root cid}"`` for a later one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from publisher.errors import SessionUnreadable

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_LENGTH = 13  # 65 bits of base32 hold the 64-bit integer, top bit 0

# Derived keys' timestamps fall in [TID_EPOCH, TID_EPOCH + 2**TID_SPREAD_BITS µs): before
# any post publisher writes (2023-01-01, Bluesky's first public year), about 13 days wide.
TID_EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
TID_SPREAD_BITS = 40
CLOCK_ID_BITS = 10  # the TID's low bits (https://atproto.com/specs/tid)

POST_COLLECTION = "app.bsky.feed.post"
LINK_FEATURE = "app.bsky.richtext.facet#link"
MENTION_FEATURE = "app.bsky.richtext.facet#mention"
MAX_MENTIONS = 10  # handles resolved per part: each is a call before the create

# A link as people write it: http(s) up to the next space; trailing punctuation that
# usually ends the sentence is not part of it.
_LINK = re.compile(r"https?://[^\s<>\"]+")
_TRAILING = ".,;:!?)]}'\""
# A mention: "@" and a handle (dot-separated labels of letters, digits and inner hyphens,
# the last starting with a letter: https://atproto.com/specs/handle), at the start of the
# text or after a character that cannot be part of a word or an address.
_MENTION = re.compile(
    r"(?:^|(?<=[^\w@.]))(@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?))"
)


@dataclass(frozen=True)
class StrongRef:
    """A record's address and content hash, as ``com.atproto.repo.strongRef``."""

    uri: str
    cid: str

    def as_json(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


@dataclass(frozen=True)
class PartRef:
    """A published part: itself, and its thread's root (itself for the first part)."""

    ref: StrongRef
    root: StrongRef

    def encode(self) -> str:
        """The part's external id (see the module docstring)."""
        if self.root == self.ref:
            return f"{self.ref.uri} {self.ref.cid}"
        return f"{self.ref.uri} {self.ref.cid} {self.root.uri} {self.root.cid}"

    @classmethod
    def decode(cls, external_id: str) -> PartRef | None:
        """The ref an external id carries; None when it is not one of ours."""
        fields = external_id.split()
        if len(fields) not in (2, 4) or not all(f.startswith("at://") for f in fields[::2]):
            return None
        ref = StrongRef(fields[0], fields[1])
        root = StrongRef(fields[2], fields[3]) if len(fields) == 4 else ref
        return cls(ref=ref, root=root)


def tid(number: int) -> str:
    """``number`` (0 <= number < 2**63) as a 13-character TID."""
    if not 0 <= number < 2**63:
        raise ValueError(f"a TID holds 63 bits, got {number}")
    chars = []
    for _ in range(TID_LENGTH):
        chars.append(TID_ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def record_key(idempotency_key: str) -> str:
    """The part's record key: the same TID for the same key, every time."""
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    spread = digest >> (64 - TID_SPREAD_BITS)
    clock_id = digest & ((1 << CLOCK_ID_BITS) - 1)
    micros = int(TID_EPOCH.timestamp()) * 1_000_000 + spread
    return tid((micros << CLOCK_ID_BITS) | clock_id)


def link_facets(text: str) -> list[dict[str, Any]]:
    """One ``#link`` facet per http(s) link in ``text``, indexed in UTF-8 bytes."""
    facets = []
    for match in _LINK.finditer(text):
        url = match.group().rstrip(_TRAILING)
        start = len(text[: match.start()].encode())
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(url.encode())},
                "features": [{"$type": LINK_FEATURE, "uri": url}],
            }
        )
    return facets


def mentioned_handles(text: str) -> list[str]:
    """The handles ``text`` mentions (lower-cased, each once, in order; ``MAX_MENTIONS``
    at most)."""
    handles: list[str] = []
    for match in _MENTION.finditer(text):
        handle = match.group(2).lower()
        if handle not in handles:
            handles.append(handle)
    return handles[:MAX_MENTIONS]


def mention_facets(text: str, dids: Mapping[str, str]) -> list[dict[str, Any]]:
    """One ``#mention`` facet per mention of a handle in ``dids`` (handle -> DID), over
    the "@handle" in UTF-8 bytes; other mentions stay plain text."""
    facets = []
    for match in _MENTION.finditer(text):
        did = dids.get(match.group(2).lower())
        if did is None:
            continue
        start = len(text[: match.start(1)].encode())
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(match.group(1).encode())},
                "features": [{"$type": MENTION_FEATURE, "did": did}],
            }
        )
    return facets


def account_did(access_jwt: str) -> str:
    """The account's DID: the ``sub`` claim of the session's access JWT.

    The claims are read, not verified: the PDS verifies the token; we only need the
    repo's name for the request's ``repo`` field and the record's URI.
    """
    try:
        claims = json.loads(_b64url(access_jwt.split(".")[1]))
    except (IndexError, ValueError, binascii.Error):
        raise SessionUnreadable() from None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(sub, str) or not sub.startswith("did:"):
        raise SessionUnreadable()
    return sub


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
