"""Threads (Meta): a post is a container published in a second step.

1. ``POST /me/threads`` makes the part a container (``threads_container``; nothing is
   visible yet), confirmed by the engine the moment Meta answers;
2. ``POST /me/threads_publish?creation_id=<container id>`` publishes it and answers
   ``{"id": <media id>}``, the post (https://developers.facebook.com/docs/threads/posts/).
A thread's later part is a container with ``reply_to_id`` = the part before's media id
(https://developers.facebook.com/docs/threads/retrieve-and-manage-replies/create-replies).
The credential's ``base_url`` is the versioned root (``https://graph.threads.net/v1.0``)
and its token a Threads user access token, sent as ``Authorization: Bearer`` (never in a
query string, which would land in logs); ``/me`` is the token's user.

Exactly once: the container is the reconciliation handle (``engine.container_steps``).
Every attempt at a part that has a container asks its status first: ``FINISHED`` means
not published, so publishing the same container is safe (and a container publishes at
most once); ``PUBLISHED`` means the post exists, found by ``lookup`` in the user's posts
(``GET /me/threads?fields=id,text,timestamp``, newest first, since the first attempt,
the exact text); ``IN_PROGRESS`` means wait; ``EXPIRED``/``ERROR`` after our publish mean
nothing was published, and a new container is made. No idempotency key exists.

Errors use the Graph format, so the Facebook table applies (``facebook.ERROR_TABLE``:
190 token, 10/200-299 permission, 1/2 transient, 4/17/32/613 throttling). Publishing is
limited to 250 posts per profile per 24 hours, enforced on ``threads_publish``
(https://developers.facebook.com/docs/threads/overview, "Posts"); Meta does not document
the refusal's code for Threads: Graph's publishing-limit code is 9 (Instagram's subcode
2207042 "maximum number of posts published"), read here as "hold the credential
``PUBLISHING_LIMIT_WAIT``, then try again", never a retry storm. The usage can be read
at ``GET /me/threads_publishing_limit?fields=quota_usage,config`` (not used yet).

Limits: text at most 500 characters, emoji counted as their UTF-8 bytes
(https://developers.facebook.com/docs/threads/posts/ "Limitations"). Media: Threads
fetches ``image_url``/``video_url`` from a public server itself, and a file uploaded to
publisher is served behind its API key; so a part takes one image given to publisher by
URL, passed on as ``image_url`` (``media_rule.THREADS``), and an uploaded file is refused
at creation. Videos and carousels are not served yet.
Refresh: a long-lived token (60 days) is renewed with itself, ``GET /refresh_access_token?
grant_type=th_refresh_token`` (``threads_refresh``): a credential keeps it as its token and
its refresh token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import regex

from publisher.providers import facebook, rest, threads_container
from publisher.providers.base import (
    Category,
    Contained,
    ErrorRule,
    GetJson,
    MediaUploader,
    PreparedCall,
    ProviderError,
    Published,
    PublishRequest,
)
from publisher.providers.media_rule import THREADS as THREADS_MEDIA
from publisher.providers.media_rule import MediaRule
from publisher.providers.text import emoji_sequences
from publisher.providers.text.rule import TextRule

MAX_TEXT = 500  # characters, emoji counted as their UTF-8 bytes
DAILY_POSTS = 250  # published posts per profile per 24 hours (threads_publishing_limit)
PUBLISHING_LIMIT = 9  # Graph's "publishing limit reached" code (see the module docstring)
# How long a profile at its publishing limit is left alone: the 24-hour window is moving,
# so a slot frees when the oldest of the 250 turns a day old; an hour asks again soon
# without hammering a refusing endpoint (capped by PUBLISHER_RETRY_AFTER_MAX).
PUBLISHING_LIMIT_WAIT = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)  # Meta's timestamps may run behind our ``since``
LOOKUP_LIMIT = 100  # posts per page read back (``facebook.read_back`` reads 5 at most)
_GRAPHEME = regex.compile(r"\X")  # an extended grapheme cluster (UAX #29)

# First matching row wins: the publishing limit, then Graph's table.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAVAILABLE, code=PUBLISHING_LIMIT),  # 250 posts in 24 h: hold
    *facebook.ERROR_TABLE,
)


def measure(text: str, options: Mapping[str, Any]) -> int:
    """Grapheme clusters, a cluster that starts an emoji counted as its UTF-8 bytes."""
    return sum(
        len(found.group().encode()) if emoji_sequences.at(text, found.start()) else 1
        for found in _GRAPHEME.finditer(text)
    )


RULE = TextRule(measure=measure, limit=MAX_TEXT, counted="characters (emoji as UTF-8 bytes)")


def prepare_publish(base_url: str, token: str, container_id: str) -> PreparedCall:
    """``POST /me/threads_publish?creation_id=`` publishing the container."""
    return PreparedCall(
        method="POST",
        url=f"{rest.root(base_url)}/me/threads_publish?creation_id={quote(container_id, safe='')}",
        headers=rest.bearer(token),
    )


class ThreadsProvider:
    """Publishes to one Threads profile; stateless, safe to share between threads."""

    name: str = "threads"
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = None  # no key: the container's status decides
    can_lookup: bool = True
    media_rule: MediaRule = THREADS_MEDIA  # one image per part, by its public URL
    uploader: MediaUploader | None = None
    threads: bool = True  # a later part replies to the one before (reply_to_id)

    @property
    def text_rule(self) -> TextRule:
        """500 characters, emoji as their UTF-8 bytes."""
        return RULE

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """Publish the part's confirmed container (the engine makes it first)."""
        assert request.container_id is not None, "threads publishes a container"
        return prepare_publish(request.base_url, request.token, request.container_id)

    def prepare_container(self, request: PublishRequest) -> PreparedCall:
        return threads_container.prepare_container(request)

    def parse_container(self, status: int, body: Any) -> str | None:
        return threads_container.parse_id(status, body)

    def prepare_status(self, base_url: str, token: str, container_id: str) -> PreparedCall:
        return threads_container.prepare_status(base_url, token, container_id)

    def parse_status(self, status: int, body: Any) -> Contained | None:
        return threads_container.parse_status(status, body)

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """The media id of the published post; None without one. (Its permalink needs a
        call of its own: not read.)"""
        media_id = threads_container.parse_id(status, body)
        return None if media_id is None else Published(media_id)

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """Graph's error (``facebook``); the publishing limit asks to wait
        ``PUBLISHING_LIMIT_WAIT``."""
        error = facebook.FacebookProvider().parse_error(status, body)
        if PUBLISHING_LIMIT not in error.codes:
            return error
        return ProviderError(
            error.message, error.codes, retry_after=PUBLISHING_LIMIT_WAIT.total_seconds()
        )

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """The user's posts whose ``text`` is exactly the part's, at or after ``since``
        less ``CLOCK_SKEW``, oldest first (``facebook.read_back``: ``LookupFailed`` when
        it cannot tell)."""
        earliest = since - CLOCK_SKEW
        url = (
            f"{rest.root(request.base_url)}/me/threads?fields=id,text,timestamp"
            f"&limit={LOOKUP_LIMIT}&since={int(earliest.timestamp())}"
        )
        headers = rest.bearer(request.token)

        def ours(post: Mapping[str, Any]) -> Published | None:
            return Published(str(post["id"])) if _matches(post, request, earliest) else None

        return facebook.read_back(get_json, url, headers, ours)


def _matches(post: Mapping[str, Any], request: PublishRequest, earliest: datetime) -> bool:
    if not post.get("id"):
        return False
    created = rest.parse_time(post.get("timestamp"))
    if created is not None and created < earliest:
        return False
    return post.get("text") == request.text
