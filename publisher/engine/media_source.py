"""A post's media item as the engine's steps need it: its file, ready to upload, or the
``Outcome`` that ends the attempt when the file cannot be had.

The seam between the multi-step runner (``multistep``) and the media building blocks:
the item stored on the post (``{"id", "type", "alt"}``, from ``check_for_post``) names a
``media`` row; its bytes come from the process's blob store or its URL
(``media_load``). A file that is gone, too big or of a refused type is a refusal
(FORBIDDEN: the post cannot be published as it is); a media host or blob store that is
down is transient (UNAVAILABLE: retried with backoff).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from publisher.core import blobs
from publisher.core.blobs import BlobStore
from publisher.core.models import MEDIA, Media
from publisher.core.settings import Settings
from publisher.engine import media_load
from publisher.engine.classify import Outcome
from publisher.engine.dependencies import Dependencies
from publisher.errors import MediaUnavailable
from publisher.providers.base import Category, MediaFile
from publisher.providers.media_rule import MediaRule

_stores: dict[tuple[str, str | None], BlobStore] = {}
_stores_lock = threading.Lock()


def store_for(settings: Settings) -> BlobStore:
    """The process's blob store for ``settings`` (built once: an S3 client is costly)."""
    key = (settings.blob_url, settings.s3_endpoint_url)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = blobs.from_settings(settings)
        return _stores[key]


def load(
    item: Mapping[str, Any],
    deps: Dependencies,
    *,
    rule: MediaRule | None = None,
    deadline: float | None = None,
) -> MediaFile | Outcome:
    """The file of media ``item`` with the item's alt text, checked against ``rule``
    (the provider's; None: only ``PUBLISHER_MEDIA_MAX_BYTES``), fetched by ``deadline``
    (``time.monotonic()``; default: the HTTP timeouts from now); or the ``Outcome``
    (FORBIDDEN or UNAVAILABLE, never ambiguous: nothing was sent) that ends the attempt."""
    settings = deps.settings
    media = _row(deps, item.get("id"))
    if media is None:
        return Outcome(Category.FORBIDDEN, f"media {item.get('id')} no longer exists")
    if deadline is None:
        deadline = time.monotonic() + settings.http_connect_timeout + settings.http_timeout
    alt = item.get("alt")
    try:
        return media_load.load(
            media,
            alt if isinstance(alt, str) else None,
            store_for(settings),
            deps.http,
            settings,
            deadline,
            rule,
        )
    except MediaUnavailable as exc:
        category = Category.UNAVAILABLE if exc.transient else Category.FORBIDDEN
        return Outcome(category, f"media {media.id}: {exc.message}")


def _row(deps: Dependencies, media_id: Any) -> Media | None:
    if isinstance(media_id, bool) or not isinstance(media_id, int):
        return None
    with deps.engine.connect() as connection:
        row = connection.execute(select(MEDIA).where(MEDIA.c.id == media_id)).first()
    return None if row is None else Media(**row._mapping)
