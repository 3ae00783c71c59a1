"""The Python API for media: files a post carries, uploaded or given by URL.

An upload is checked (its real type from its bytes, its size), stored in the blob store,
then recorded; a URL is checked on its text (https, no private or metadata host) and
fetched only at publish time (``engine.media_load``). ``check_for_post`` is what post
creation calls: it checks a post's media against its provider's ``MediaRule`` and
returns the items to store on the post.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from publisher.core.addresses import url_problem
from publisher.core.blobs import BlobStore, new_key
from publisher.core.media_types import ACCEPTED, filename_for, sniff
from publisher.core.models import Media
from publisher.core.service.accounts import get_account
from publisher.core.service.checks import fetch, storable
from publisher.errors import InvalidInput
from publisher.providers import get_provider
from publisher.providers.media_rule import Kind, MediaRule

# Alt text kept with a file: above every network's own limit (Mastodon's 1,500 is the
# largest), which post creation checks per provider; beyond this it is surely a mistake.
MAX_ALT = 10_000
# media.url holds 2,000 characters.
MAX_URL = 2_000


def check_alt(alt: str | None, field: str = "alt") -> str:
    """``alt`` (None: empty) if it can be stored; the provider's limit is checked later."""
    alt = alt or ""
    storable(field, alt)
    if len(alt) > MAX_ALT:
        raise InvalidInput(field, f"is {len(alt):,} characters; at most {MAX_ALT:,} allowed")
    return alt


def create_from_upload(
    session: Session,
    store: BlobStore,
    content: bytes,
    filename: str | None,
    alt: str | None,
    account_id: int | None = None,
    *,
    max_bytes: int | None = None,
) -> Media:
    """A media row for uploaded ``content``, its bytes put in ``store`` first.

    The type is sniffed from the bytes (the client's filename only labels the file);
    anything but an accepted type, an empty file or one over ``max_bytes``
    (``PUBLISHER_MEDIA_MAX_BYTES``) is refused with ``InvalidInput("file", ...)``
    before anything is stored.
    """
    alt = check_alt(alt)
    if account_id is not None:
        get_account(session, account_id)
    if not content:
        raise InvalidInput("file", "is empty")
    if max_bytes is not None and len(content) > max_bytes:
        raise InvalidInput("file", f"is {len(content):,} bytes; at most {max_bytes:,} allowed")
    found = sniff(content)
    if found is None:
        raise InvalidInput("file", f"is not a supported media file; accepted: {ACCEPTED}")
    key = new_key()
    store.put(key, content)
    media = Media(
        account_id=account_id,
        kind=found.kind.value,
        content_type=found.content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        alt=alt,
        source="upload",
        blob_key=key,
        filename=filename_for(filename, found),
    )
    session.add(media)
    session.flush()
    return media


def check_media_url(url: str, allow_private: bool) -> str:
    """``url`` if publisher may fetch media from it: https (plain http too when
    ``allow_private``, the embedded mode), no link-local or metadata host, and no
    loopback or private one unless ``allow_private``."""
    if len(url) > MAX_URL:
        raise InvalidInput("url", f"must be at most {MAX_URL:,} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise InvalidInput("url", "must not contain spaces or control characters")
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise InvalidInput("url", "must be an https URL")
    problem = url_problem(url, allow_private)
    if problem:
        raise InvalidInput("url", problem)
    return url


def create_from_url(
    session: Session,
    url: str,
    alt: str | None,
    account_id: int | None = None,
    *,
    allow_private: bool = False,
) -> Media:
    """A media row for the file at ``url``, fetched at publish time (type and size are
    unknown until then). ``allow_private``: pass ``settings.allow_private_urls``."""
    alt = check_alt(alt)
    if account_id is not None:
        get_account(session, account_id)
    media = Media(
        account_id=account_id,
        alt=alt,
        source="url",
        url=check_media_url(url, allow_private),
    )
    session.add(media)
    session.flush()
    return media


def get_media(session: Session, media_id: int) -> Media:
    return fetch(session, Media, media_id, "media_id")


def check_for_post(
    session: Session,
    account_id: int,
    provider_name: str,
    items: Sequence[Mapping[str, Any]],
    field: str = "media",
) -> list[dict[str, Any]]:
    """The post's media items, normalised (``{"id", "type", "alt"}``, plus ``"url"`` for a
    file given by URL), if the provider takes them: each exists, belongs to
    ``account_id`` (or to no account), its alt text (the item's ``alt``, else the file's)
    and, where known, its kind and size are within the provider's ``MediaRule``, and so
    are their count and mix. Raises ``InvalidInput`` naming the item and the limit, e.g.
    ``media[1].alt``: "is 1,203 characters; x allows 1,000". ``type`` is None for a URL
    not fetched yet."""
    rule = get_provider(provider_name).media_rule
    normalised = [
        _check_item(session, account_id, provider_name, rule, item, f"{field}[{index}]")
        for index, item in enumerate(items)
    ]
    kinds = [Kind(item["type"]) if item["type"] else None for item in normalised]
    refused = rule.refusal(kinds)
    if refused is not None:
        raise InvalidInput(field, f"{refused} on {provider_name}")
    return normalised


def _check_item(
    session: Session,
    account_id: int,
    provider_name: str,
    rule: MediaRule,
    item: Mapping[str, Any],
    field: str,
) -> dict[str, Any]:
    media_id = item.get("id") if isinstance(item, Mapping) else None
    if isinstance(media_id, bool) or not isinstance(media_id, int) or media_id < 1:
        raise InvalidInput(f"{field}.id", "must be a media id (a positive integer)")
    media = session.get(Media, media_id)
    if media is None:
        raise InvalidInput(f"{field}.id", f"media {media_id} not found")
    if media.account_id is not None and media.account_id != account_id:
        raise InvalidInput(f"{field}.id", f"media {media_id} belongs to another account")
    if rule.by_url and media.url is None:
        raise InvalidInput(
            f"{field}.id",
            f"{provider_name} fetches media from a public URL; media {media_id} was uploaded "
            "(give the file by URL instead)",
        )
    given = item.get("alt")
    if given is not None and not isinstance(given, str):
        raise InvalidInput(f"{field}.alt", "must be a string")
    alt = check_alt(given if given is not None else media.alt, f"{field}.alt")
    if len(alt) > rule.max_alt:
        raise InvalidInput(
            f"{field}.alt", f"is {len(alt):,} characters; {provider_name} allows {rule.max_alt:,}"
        )
    if media.kind is not None:
        _check_kind(media, Kind(media.kind), provider_name, rule, field)
    found: dict[str, Any] = {"id": media.id, "type": media.kind, "alt": alt}
    if media.url is not None:  # a receiver of URLs (a webhook) gets the file's own
        found["url"] = media.url
    return found


def _check_kind(media: Media, kind: Kind, provider_name: str, rule: MediaRule, field: str) -> None:
    if kind not in rule.kinds:
        accepted = ", ".join(sorted(rule.kinds))
        raise InvalidInput(
            f"{field}.type", f"{provider_name} does not take {kind} media; it takes {accepted}"
        )
    limit = rule.max_bytes[kind]
    if media.size is not None and media.size > limit:
        raise InvalidInput(
            f"{field}.size",
            f"is {media.size:,} bytes; {provider_name} allows {limit:,} for {kind} media",
        )
