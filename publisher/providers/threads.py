"""Threads (Meta): the two-step publish, as requests and answers. Not registered yet: the
multi-step runner cannot drive the container step (see "Seam" below).

A post is published in two steps (https://developers.facebook.com/docs/threads/posts/):
1. ``POST /{threads-user-id}/threads`` with ``media_type=TEXT`` (``IMAGE``/``VIDEO`` take
   an ``image_url``/``video_url`` on a public server), ``text`` and, for a thread's later
   part, ``reply_to_id``: answers ``{"id": <container id>}``. Nothing is visible yet.
2. ``POST /{threads-user-id}/threads_publish?creation_id=<container id>``: answers
   ``{"id": <media id>}``, the post.
``me`` stands for the token's user in both paths. A container not published within 24 h
expires. ``GET /{container-id}?fields=status,error_message`` tells ``IN_PROGRESS``,
``FINISHED`` (ready, not published), ``PUBLISHED``, ``ERROR`` (with an ``error_message``
such as ``FAILED_PROCESSING_VIDEO``) or ``EXPIRED``; Meta advises polling once a minute for
at most 5 minutes (https://developers.facebook.com/docs/threads/troubleshooting).

Exactly once: the container id is the reconciliation handle. Once a part's container id is
stored (a confirmed step), every later publish of that part sends the same
``creation_id``, and a container publishes at most once. After an ambiguous publish, the
container's status decides (``after_ambiguous_publish``): ``PUBLISHED`` means the post
exists (its media id is then read from ``GET /me/threads?fields=id,text,timestamp``, the
user's posts, matched by text since the first attempt); ``FINISHED`` means it does not,
so publishing the same container again is safe; ``IN_PROGRESS`` means wait; ``ERROR`` and
``EXPIRED`` mean the container is dead and a new one must be made (nothing was published).

Limits: text at most 500 characters, emoji counted as their UTF-8 bytes
(https://developers.facebook.com/docs/threads/posts/ "Limitations"); 250 published posts
per 24 hours per profile, read at ``GET /me/threads_publishing_limit?fields=quota_usage,
config`` (https://developers.facebook.com/docs/threads/troubleshooting). Errors use the
Graph format (``{"error": {"code", "error_subcode", "message"}}``), so the Facebook error
table applies (``facebook.error_codes``).

Seam (the smallest change to ``engine.steps``/``multistep``): a provider may declare a
``container`` (a Protocol like ``MediaUploader``: ``prepare_container(request)``,
``parse_container``, ``prepare_status``, ``parse_status``). ``steps.sequence`` then puts,
for each part, a ``CONTAIN`` step (key ``p{n}.c``, confirmed with the container id, ready
when its status is ``FINISHED``: the same confirm-then-poll rows media processing uses)
before that part's ``CREATE``; ``multistep._request`` passes the confirmed container id to
``prepare`` (a new ``PublishRequest.container_id``), and ``lookup`` reads it to ask the
container's status first. A dead container (``ERROR``/``EXPIRED``) deletes its ``p{n}.c``
row so the next attempt makes a new one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import regex

from publisher.providers import rest
from publisher.providers.base import PreparedCall, PublishRequest
from publisher.providers.text import emoji_sequences
from publisher.providers.text.rule import TextRule

MAX_TEXT = 500  # characters, emoji counted as their UTF-8 bytes
DAILY_POSTS = 250  # published posts per profile per 24 hours (threads_publishing_limit)
CONTAINER_LIFETIME_HOURS = 24  # an unpublished container expires after this long
_GRAPHEME = regex.compile(r"\X")  # an extended grapheme cluster (UAX #29)


class ContainerStatus(enum.StrEnum):
    IN_PROGRESS = "IN_PROGRESS"  # still processing: wait, then ask again
    FINISHED = "FINISHED"  # ready and not published: publishing it is safe
    PUBLISHED = "PUBLISHED"  # published: the post exists
    ERROR = "ERROR"  # failed for good: nothing published, make a new container
    EXPIRED = "EXPIRED"  # not published within 24 h: nothing published, make a new one


class Next(enum.StrEnum):
    """What an attempt does after an ambiguous publish, from the container's status."""

    FOUND = "found"  # the post exists: find its media id, confirm the part
    PUBLISH_AGAIN = "publish_again"  # not published: send threads_publish again, same id
    WAIT = "wait"  # still processing: retry later, no attempt used
    NEW_CONTAINER = "new_container"  # the container is dead: make another, then publish


AFTER_AMBIGUOUS: Mapping[ContainerStatus, Next] = {
    ContainerStatus.PUBLISHED: Next.FOUND,
    ContainerStatus.FINISHED: Next.PUBLISH_AGAIN,
    ContainerStatus.IN_PROGRESS: Next.WAIT,
    ContainerStatus.ERROR: Next.NEW_CONTAINER,
    ContainerStatus.EXPIRED: Next.NEW_CONTAINER,
}


@dataclass(frozen=True)
class Container:
    """A container's status as Threads reports it."""

    id: str
    status: ContainerStatus
    error: str | None = None  # error_message of an ERROR container


def measure(text: str, options: Mapping[str, Any]) -> int:
    """Grapheme clusters, a cluster that starts an emoji counted as its UTF-8 bytes."""
    return sum(
        len(found.group().encode()) if emoji_sequences.at(text, found.start()) else 1
        for found in _GRAPHEME.finditer(text)
    )


RULE = TextRule(measure=measure, limit=MAX_TEXT, counted="characters (emoji as UTF-8 bytes)")


def prepare_container(request: PublishRequest) -> PreparedCall:
    """Step 1: ``POST /me/threads`` making a text container (a reply for a later part)."""
    body: dict[str, Any] = {"media_type": "TEXT", "text": request.text}
    if request.reply_to is not None:
        body["reply_to_id"] = request.reply_to
    return PreparedCall(
        method="POST",
        url=f"{rest.root(request.base_url)}/me/threads",
        headers=rest.bearer(request.token),
        json=body,
    )


def prepare_publish(base_url: str, token: str, container_id: str) -> PreparedCall:
    """Step 2: ``POST /me/threads_publish?creation_id=`` publishing the container."""
    return PreparedCall(
        method="POST",
        url=f"{rest.root(base_url)}/me/threads_publish?creation_id={quote(container_id, safe='')}",
        headers=rest.bearer(token),
    )


def prepare_status(base_url: str, token: str, container_id: str) -> PreparedCall:
    """``GET /{container-id}?fields=status,error_message``."""
    return PreparedCall(
        method="GET",
        url=f"{rest.root(base_url)}/{quote(container_id, safe='')}?fields=status,error_message",
        headers=rest.bearer(token),
    )


def parse_id(status: int, body: Any) -> str | None:
    """The ``id`` of a 2xx answer (a container's, or the published post's), else None."""
    if not 200 <= status < 300 or not isinstance(body, Mapping):
        return None
    found = body.get("id")
    return str(found) if isinstance(found, str | int) and found != "" else None


def parse_status(status: int, body: Any) -> Container | None:
    """The container's status from a 2xx answer; None when unreadable."""
    container_id = parse_id(status, body)
    if container_id is None:
        return None
    try:
        state = ContainerStatus(body.get("status"))
    except ValueError:
        return None
    error = body.get("error_message")
    return Container(container_id, state, error if isinstance(error, str) else None)


def after_ambiguous_publish(container: Container) -> Next:
    """What to do about a part whose publish may have landed, from its container."""
    return AFTER_AMBIGUOUS[container.status]
