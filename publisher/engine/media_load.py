"""Loading a post's media file at publish time: from the blob store, or from its URL.

A URL is fetched under the rules of every provider call (``exchange``): its text is
checked again (``url_problem``: https, or http in the embedded mode; no metadata host),
the address its host resolves to is checked at connect time (``deadline``'s guarded
connections: no link-local or metadata address, no loopback or private one unless
``PUBLISHER_ALLOW_PRIVATE_URLS``), the connect and each read are bounded by the HTTP
timeouts and the whole fetch by the caller's deadline, redirects are followed a few
times with every hop checked the same way, and reading stops past the size bound. The
file's type is then read from its bytes and must be one the provider takes, within its
size for that kind.

Every failure raises ``MediaUnavailable``, whose ``transient`` tells the engine whether
to retry later (a timeout, a reset, a 5xx, 408 or 429 from the media host) or to give the
post up as it is (a 404, a file too big or of a refused type, a forbidden address).
"""

from __future__ import annotations

import time
from urllib.parse import urljoin

import requests

from publisher.core.blobs import BlobStore
from publisher.core.media_types import ACCEPTED, filename_for, sniff
from publisher.core.models import Media
from publisher.core.service.media import check_media_url
from publisher.core.settings import Settings
from publisher.engine.deadline import destinations, guarded
from publisher.engine.exchange import forbidden_cause
from publisher.errors import BlobMissing, InvalidInput, MediaUnavailable
from publisher.providers.base import MediaFile
from publisher.providers.media_rule import MediaRule

# Hops followed from a media URL (CDNs redirect once or twice); each is checked anew.
MAX_REDIRECTS = 3
# Answers worth trying again later: the media host is busy or briefly broken.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK = 64 * 1024  # bytes read at a time


def load(
    media: Media,
    alt: str | None,
    store: BlobStore,
    http: requests.Session,
    settings: Settings,
    deadline: float,
    rule: MediaRule | None = None,
) -> MediaFile:
    """The file of ``media`` with ``alt`` (None: the file's own alt text), checked against
    ``rule`` (None: only ``PUBLISHER_MEDIA_MAX_BYTES``); ``deadline`` is
    ``time.monotonic()`` by which a URL fetch must be over. ``http`` must come from
    ``exchange.new_session`` (its connections check the addresses they reach). Raises
    ``MediaUnavailable``."""
    limit = min(settings.media_max_bytes, rule.largest if rule else settings.media_max_bytes)
    if media.blob_key is not None:
        content = _from_store(store, media.blob_key)
        name = media.filename
    elif media.url is not None:
        content = _fetch(http, media.url, settings, deadline, limit)
        name = media.url.split("?", 1)[0]
    else:
        raise MediaUnavailable(f"media {media.id} has neither a file nor a URL", transient=False)
    return _checked(content, name, media.alt if alt is None else alt, rule, limit)


def _from_store(store: BlobStore, key: str) -> bytes:
    try:
        return store.get(key)
    except BlobMissing as exc:
        raise MediaUnavailable(exc.message, transient=False) from None
    except OSError as exc:  # the disk or the bucket is unreachable now
        raise MediaUnavailable(f"the blob store failed: {exc}", transient=True) from None


def _checked(
    content: bytes, name: str | None, alt: str, rule: MediaRule | None, limit: int
) -> MediaFile:
    found = sniff(content)
    if found is None:
        raise MediaUnavailable(f"the file is not {ACCEPTED}", transient=False)
    allowed = rule.max_bytes.get(found.kind) if rule else limit
    if allowed is None:
        raise MediaUnavailable(f"{found.kind} media are not accepted here", transient=False)
    if len(content) > min(allowed, limit):
        raise MediaUnavailable(
            f"the {found.kind} is {len(content):,} bytes; at most {min(allowed, limit):,}",
            transient=False,
        )
    return MediaFile(content, found.content_type, filename_for(name, found), found.kind, alt)


def _fetch(
    http: requests.Session, url: str, settings: Settings, deadline: float, limit: int
) -> bytes:
    """The body at ``url`` (redirects followed), at most ``limit`` bytes."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_media_url(url, settings.allow_private_urls)
        except InvalidInput as exc:
            raise MediaUnavailable(f"{url} {exc.message}", transient=False) from None
        found = _get(http, url, settings, deadline, limit)
        if isinstance(found, bytes):
            return found
        url = found
    raise MediaUnavailable(f"more than {MAX_REDIRECTS} redirects", transient=False)


def _get(
    http: requests.Session, url: str, settings: Settings, deadline: float, limit: int
) -> bytes | str:
    """One GET: the body, or the URL a redirect points to."""
    timeout = (settings.http_connect_timeout, settings.http_timeout)
    if time.monotonic() >= deadline:
        raise MediaUnavailable("no time left to fetch the media", transient=True)
    with destinations(settings.allow_private_urls), guarded(deadline) as guard:
        try:
            response = http.get(url, timeout=timeout, stream=True, allow_redirects=False)
            try:
                body = _body(response, url, limit)
            finally:
                response.close()
        except requests.RequestException as exc:
            refused = forbidden_cause(exc)
            if refused is not None:
                raise MediaUnavailable(
                    f"forbidden destination: {refused}", transient=False
                ) from None
            cut = " (its deadline passed)" if guard.fired else ""
            raise MediaUnavailable(
                f"fetching {url} failed{cut}: {exc.__class__.__name__}", transient=True
            ) from None
    if guard.fired:
        raise MediaUnavailable(f"fetching {url} passed its deadline", transient=True)
    return body


def _body(response: requests.Response, url: str, limit: int) -> bytes | str:
    status = response.status_code
    if response.is_redirect:
        return urljoin(url, response.headers["location"])
    if not 200 <= status < 300:
        raise MediaUnavailable(
            f"the media host answered HTTP {status}", transient=status in TRANSIENT_STATUSES
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise MediaUnavailable(
            f"the file is {int(declared):,} bytes; at most {limit:,}", transient=False
        )
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=CHUNK):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise MediaUnavailable(f"the file is over {limit:,} bytes", transient=False)
    return b"".join(parts)
