"""Bluesky: publish a post as an ``app.bsky.feed.post`` record in the account's repo.

What the AT Protocol documents, and what publisher does with it:

- **Create**: ``POST {pds}/xrpc/com.atproto.repo.createRecord`` with ``repo`` (the
  account's DID), ``collection`` ``app.bsky.feed.post``, an optional client-chosen
  ``rkey`` and the ``record``; a 200 answers ``{uri, cid}``
  (lexicons/com/atproto/repo/createRecord.json in https://github.com/bluesky-social/atproto).
  Auth is the session's access JWT as a bearer token
  (https://docs.bsky.app/docs/advanced-guides/api-directory).
- **The key**: publisher chooses the ``rkey``, a TID derived from the part's idempotency
  key (``bluesky_record.record_key``), so every attempt at a part writes the same URI.
- **After an ambiguous attempt**: ``GET {pds}/xrpc/com.atproto.repo.getRecord`` by that
  exact key (lexicons/com/atproto/repo/getRecord.json): 200 is the post (done, with the
  id from it), ``RecordNotFound`` means it was not created (safe to create). A create
  whose key already exists is refused (the PDS may answer 500 rather than a clean
  conflict): publisher never re-creates blindly, it reads back first. Bluesky honours no
  idempotency key, so the key *is* the guarantee: ``idempotency_window`` is None.
- **Threads**: a later part's record carries ``reply: {root, parent}``, each a strong ref
  ``{uri, cid}`` (lexicons/app/bsky/feed/post.json ``#replyRef``).
- **Text**: at most 300 graphemes and 3,000 bytes (``text`` in
  lexicons/app/bsky/feed/post.json); links and mentions become facets with UTF-8 byte
  offsets (https://docs.bsky.app/docs/advanced-guides/post-richtext); a mention's handle
  is resolved to its DID just before the create (``ResolvesMentions``:
  ``com.atproto.identity.resolveHandle``), and one that names no account stays plain.
- **Errors** (https://atproto.com/specs/xrpc#error-responses): a JSON body
  ``{"error": name, "message": text}``; the name is the code the table matches.
  ``ExpiredToken`` (400) and ``InvalidToken`` mean the access JWT must be refreshed
  (``com.atproto.server.refreshSession``); ``AuthenticationRequired`` (401) that the
  session or app password is no longer valid.
- **Rate limits**: 429 with ``RateLimit-Limit``, ``RateLimit-Remaining``,
  ``RateLimit-Reset`` (epoch seconds) and ``RateLimit-Policy``; writes are counted in
  points per account (5,000 an hour, 35,000 a day; a create costs 3)
  (https://docs.bsky.app/docs/advanced-guides/rate-limits). ``engine.backoff`` reads them.
- **Media**: images go by ``com.atproto.repo.uploadBlob`` (a step of their own, before
  the part) then an ``app.bsky.embed.images`` embed with their alt texts (up to 4, each
  at most 1,000,000 bytes): ``bluesky_media``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from publisher.errors import LookupFailed
from publisher.providers import rest
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
from publisher.providers.bluesky_media import MEDIA_RULE, UPLOADER, images_embed
from publisher.providers.bluesky_record import (
    POST_COLLECTION,
    PartRef,
    StrongRef,
    account_did,
    link_facets,
    mention_facets,
    mentioned_handles,
    record_key,
)
from publisher.providers.media_rule import MediaRule
from publisher.providers.text.graphemes import grapheme_rule
from publisher.providers.text.rule import TextRule

# "maxGraphemes": 300 on the post's text (lexicons/app/bsky/feed/post.json).
MAX_GRAPHEMES = 300

# An error page can be large; the message only needs its start.
MAX_MESSAGE = 500

# Options passed into the record; anything else in ``options`` is ignored.
ALLOWED_OPTIONS = ("langs",)

# The public web address of a post: the app's, by DID and record key.
WEB_POST = "https://bsky.app/profile/{did}/post/{rkey}"

# First matching row wins; ``code`` is the XRPC error name. A status not listed (404
# included) is left unclassified.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAUTHORIZED, status=400, code="ExpiredToken"),  # refresh the session
    ErrorRule(Category.UNAUTHORIZED, code="InvalidToken"),  # a token the PDS cannot read
    ErrorRule(Category.UNAUTHORIZED, status=401),  # AuthenticationRequired, AuthMissing
    ErrorRule(Category.FORBIDDEN, code="AccountTakedown"),  # the account was taken down
    ErrorRule(Category.FORBIDDEN, status=403),  # the session may not write this repo
    # The key exists (a create after one that did land): done, never a second post.
    ErrorRule(Category.DUPLICATE, text="already exists"),
    ErrorRule(Category.FORBIDDEN, status=400, code="InvalidRequest"),  # the record is invalid
    ErrorRule(Category.FORBIDDEN, status=413),  # a body too large
    ErrorRule(Category.UNAVAILABLE, status=408),
    ErrorRule(Category.UNAVAILABLE, status=429),  # rate limited; see RateLimit-Reset
    ErrorRule(Category.UNAVAILABLE, status=500),  # may also be a create of an existing key
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)


class BlueskyProvider:
    """Publishes to one Bluesky account; stateless, safe to share between threads."""

    name: str = "bluesky"
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = None  # no key; the derived rkey and a lookup
    can_lookup: bool = True  # getRecord by the derived key
    media_rule: MediaRule = MEDIA_RULE  # four images, 1,000,000 bytes each
    uploader: MediaUploader | None = UPLOADER  # uploadBlob, one step per image
    threads: bool = True  # a part replies to the one before (reply refs root/parent)

    @property
    def text_rule(self) -> TextRule:
        """Graphemes, at most 300."""
        return grapheme_rule(MAX_GRAPHEMES)

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``createRecord`` of the part's post under its derived key (a reply for a later
        part). Raises ``SessionUnreadable`` when the token names no account."""
        did = account_did(request.token)
        return PreparedCall(
            method="POST",
            url=f"{rest.root(request.base_url)}/xrpc/com.atproto.repo.createRecord",
            headers=rest.bearer(request.token),
            json={
                "repo": did,
                "collection": POST_COLLECTION,
                "rkey": record_key(request.idempotency_key),
                "record": post_record(request, datetime.now(UTC)),
            },
        )

    def mentioned(self, text: str) -> Sequence[str]:
        """The handles ``text`` mentions (``ResolvesMentions``)."""
        return mentioned_handles(text)

    def resolve_url(self, base_url: str, handle: str) -> str:
        """``com.atproto.identity.resolveHandle`` on the account's PDS
        (lexicons/com/atproto/identity/resolveHandle.json: answers ``{"did"}``)."""
        query = urlencode({"handle": handle})
        return f"{rest.root(base_url)}/xrpc/com.atproto.identity.resolveHandle?{query}"

    def parse_resolved(self, body: Any) -> str | None:
        """The DID a resolveHandle answer names, or None."""
        did = body.get("did") if isinstance(body, Mapping) else None
        return did if isinstance(did, str) and did.startswith("did:") else None

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """The record's ``uri`` and ``cid`` (with its thread's root, for the next part);
        None without them."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        ref = _strong_ref(body)
        if ref is None:
            return None
        previous = PartRef.decode(request.reply_to) if request and request.reply_to else None
        return _published(PartRef(ref=ref, root=previous.root if previous else ref))

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """The XRPC ``error`` name as the code, with its ``message``; else the text body."""
        if isinstance(body, Mapping) and isinstance(body.get("error"), str):
            name = body["error"]
            detail = body.get("message")
            message = f"{name}: {detail}" if isinstance(detail, str) else name
            return ProviderError(message=message[:MAX_MESSAGE], codes=(name,))
        if isinstance(body, str | bytes) and body.strip():
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return ProviderError(message=text.strip()[:MAX_MESSAGE])
        return ProviderError(message=f"HTTP {status}")

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """The part's record by its derived key: ``[post]``, or ``[]`` when the PDS
        answers ``RecordNotFound``. Raises ``LookupFailed`` on anything else."""
        did = account_did(request.token)
        query = urlencode(
            {
                "repo": did,
                "collection": POST_COLLECTION,
                "rkey": record_key(request.idempotency_key),
            }
        )
        url = f"{rest.root(request.base_url)}/xrpc/com.atproto.repo.getRecord?{query}"
        try:
            record = get_json(url, rest.bearer(request.token))
        except LookupFailed as failed:
            if _not_found(failed):
                return []
            raise
        ref = _strong_ref(record) if isinstance(record, Mapping) else None
        if ref is None:
            raise LookupFailed("getRecord answered without a uri and cid")
        value = record.get("value")
        reply = value.get("reply") if isinstance(value, Mapping) else None
        root = _strong_ref(reply.get("root")) if isinstance(reply, Mapping) else None
        return [_published(PartRef(ref=ref, root=root or ref))]


def post_record(request: PublishRequest, now: datetime) -> dict[str, Any]:
    """The ``app.bsky.feed.post`` record of one part, created at ``now``."""
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": request.text,
        "createdAt": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    facets = link_facets(request.text) + mention_facets(request.text, request.mentions)
    facets.sort(key=lambda facet: facet["index"]["byteStart"])
    if facets:
        record["facets"] = facets
    embed = images_embed(request.media_ids, request.media)
    if embed is not None:
        record["embed"] = embed
    previous = PartRef.decode(request.reply_to) if request.reply_to else None
    if previous is not None:
        record["reply"] = {"root": previous.root.as_json(), "parent": previous.ref.as_json()}
    return rest.with_options(record, request.options, ALLOWED_OPTIONS)


def _strong_ref(value: object) -> StrongRef | None:
    if not isinstance(value, Mapping):
        return None
    uri, cid = value.get("uri"), value.get("cid")
    if not (isinstance(uri, str) and uri.startswith("at://") and isinstance(cid, str) and cid):
        return None
    return StrongRef(uri=uri, cid=cid)


def _not_found(failed: LookupFailed) -> bool:
    """Whether a failed getRecord says the record does not exist."""
    body = failed.details.get("body")
    return (
        failed.details.get("status") == 400
        and isinstance(body, Mapping)
        and body.get("error") == "RecordNotFound"
    )


def _published(part: PartRef) -> Published:
    did, _, rkey = part.ref.uri.removeprefix("at://").partition(f"/{POST_COLLECTION}/")
    return Published(external_id=part.encode(), external_url=WEB_POST.format(did=did, rkey=rkey))
