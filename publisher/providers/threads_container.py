"""Threads (Meta) containers: the first of a post's two steps, and the state that tells
whether a publish landed.

``POST /{threads-user-id}/threads`` with ``media_type=TEXT`` (``IMAGE``/``VIDEO`` take an
``image_url``/``video_url`` on a public server), ``text`` and, for a thread's later part,
``reply_to_id`` answers ``{"id": <container id>}``; nothing is visible yet
(https://developers.facebook.com/docs/threads/posts/,
https://developers.facebook.com/documentation/threads/reference/publishing). ``me``
stands for the token's user. ``GET /{container-id}?fields=status,error_message`` tells
``IN_PROGRESS``, ``FINISHED`` (ready, not published), ``PUBLISHED``, ``ERROR`` (with an
``error_message`` such as ``FAILED_PROCESSING_VIDEO``) or ``EXPIRED`` (not published
within 24 hours); Meta advises polling once a minute for at most 5 minutes
(https://developers.facebook.com/docs/threads/troubleshooting, "Publishing Does Not
Return a Media ID"). The engine acts on the provider-neutral ``ContainerState``
(``engine.container_steps``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from publisher.providers import rest
from publisher.providers.base import Contained, ContainerState, PreparedCall, PublishRequest

CONTAINER_LIFETIME_HOURS = 24  # an unpublished container expires after this long


class ContainerStatus(enum.StrEnum):
    IN_PROGRESS = "IN_PROGRESS"  # still processing: wait, then ask again
    FINISHED = "FINISHED"  # ready and not published: publishing it is safe
    PUBLISHED = "PUBLISHED"  # published: the post exists
    ERROR = "ERROR"  # failed for good: nothing published
    EXPIRED = "EXPIRED"  # not published within 24 h: nothing published


STATES: Mapping[ContainerStatus, ContainerState] = {
    ContainerStatus.IN_PROGRESS: ContainerState.PROCESSING,
    ContainerStatus.FINISHED: ContainerState.READY,
    ContainerStatus.PUBLISHED: ContainerState.PUBLISHED,
    ContainerStatus.ERROR: ContainerState.FAILED,
    ContainerStatus.EXPIRED: ContainerState.EXPIRED,
}


def prepare_container(request: PublishRequest) -> PreparedCall:
    """``POST /me/threads`` making the part a container (a reply for a later part): a
    text, or an image by its public URL with its alt text (``media_rule.THREADS``)."""
    body: dict[str, Any] = {"media_type": "TEXT", "text": request.text}
    if request.media:  # one image at most, given by URL (refused otherwise at creation)
        image = request.media[0]
        body |= {"media_type": "IMAGE", "image_url": image["url"]}
        if image.get("alt"):
            body["alt_text"] = image["alt"]
    if request.reply_to is not None:
        body["reply_to_id"] = request.reply_to
    return PreparedCall(
        method="POST",
        url=f"{rest.root(request.base_url)}/me/threads",
        headers=rest.bearer(request.token),
        json=body,
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


def parse_status(status: int, body: Any) -> Contained | None:
    """The container's state from a 2xx answer; None when unreadable."""
    container_id = parse_id(status, body)
    if container_id is None:
        return None
    try:
        state = STATES[ContainerStatus(body.get("status"))]
    except ValueError:
        return None
    error = body.get("error_message")
    return Contained(container_id, state, error if isinstance(error, str) else None)
