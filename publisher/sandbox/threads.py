"""The sandbox's Threads (Meta): containers, publishing, container status and the user's
posts, under any version prefix (``/v1.0/me/threads``); ``/me`` is the token's user.

- ``POST /me/threads`` (``media_type=TEXT`` with ``text``, or ``IMAGE`` with an
  ``image_url`` and optional ``alt_text``; ``reply_to_id``) makes a container
  (``threads_containers``): ``IN_PROGRESS`` for ``State.containers.processing_polls``
  status reads, then ``FINISHED`` (``ERROR`` for an image whose URL names
  ``threads_containers.BROKEN``, as if Meta could not fetch it). A ``reply_to_id`` must
  name a post of the same user.
- ``POST /me/threads_publish?creation_id=`` publishes a ``FINISHED`` container once: that
  is the create the fault markers (``faults``) act on, so an attempt can be made
  ambiguous (``reset_after``, ``503_after``, ``slow``...). A container already
  ``PUBLISHED`` answers an error and never makes a second post, in strict mode as in
  helpful (Meta's behaviour: a container is one post at most); so do ``EXPIRED`` and
  ``ERROR`` ones, and an ``IN_PROGRESS`` one answers "not ready".
- ``GET /{container-id}?fields=status,error_message`` answers its status (one poll).
- ``GET /me/threads?since=&limit=&after=`` lists the user's posts newest first
  (``id``, ``text``, ``timestamp``), ``paging.cursors.after`` while more remain.
- ``GET /refresh_access_token?grant_type=th_refresh_token&access_token=`` answers a new
  long-lived token for a valid one (the old one stays valid, as at Meta until it
  expires); an invalid one gets Graph's 190. Posts are kept per token, so a refreshed
  token sees only the posts made with it.

Errors are Graph's (``facebook.graph_error``). Sources:
https://developers.facebook.com/docs/threads/posts/,
https://developers.facebook.com/docs/threads/troubleshooting,
https://developers.facebook.com/documentation/threads/reference/publishing.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from publisher.sandbox.facebook import DIALECT, VERSION, graph_error, graph_listing
from publisher.sandbox.faults import with_faults
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.threads_containers import Container, Image
from publisher.sandbox.wire import Request, Response, json_response

POSTS = "/me/threads"  # the ledger's path for every version prefix
PUBLISH = "/me/threads_publish"  # the fault plan's scope: publishing is the create
INVALID = 100  # Graph's "invalid parameter"
NOT_READY = 9007  # Graph's "media is not ready to be published"
LONG_LIVED = 60 * 24 * 3600  # s: a long-lived Threads token lasts 60 days


def _refused(state: State, request: Request) -> Response | None:
    return None if state.token_ok(request.bearer()) else DIALECT.unauthorized()


def _no_object(object_id: str) -> Response:
    message = f"Unsupported request. Object with ID '{object_id}' does not exist"
    return graph_error(400, INVALID, message, subcode=33)


def make_container(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _refused(state, request)
    if refused is not None:
        return refused
    token, fields = request.bearer(), request.fields()
    text, reply_to = fields.get("text"), fields.get("reply_to_id")
    problem = _container_problem(fields)
    if problem is not None:
        return graph_error(400, INVALID, f"(#100) {problem}")
    if reply_to is not None and state.ledger.find(POSTS, token, str(reply_to)) is None:
        return _no_object(str(reply_to))
    container_id = state.ledger.next_id()
    state.containers.make(
        container_id,
        token,
        str(text or ""),
        None if reply_to is None else str(reply_to),
        image=_image(fields),
    )
    return json_response(200, {"id": container_id})


def _container_problem(fields: Mapping[str, Any]) -> str | None:
    """Why a container request is refused (Graph's code 100), or None."""
    text, kind = fields.get("text"), fields.get("media_type")
    if kind == "TEXT":
        return None if isinstance(text, str) and text.strip() else "media_type TEXT needs a text"
    if kind == "IMAGE":
        url = fields.get("image_url")
        ok = isinstance(url, str) and url.startswith(("http://", "https://"))
        return None if ok else "media_type IMAGE needs an image_url on a public server"
    return f"media_type {kind!r} is not served by the sandbox"


def _image(fields: Mapping[str, Any]) -> Image | None:
    if fields.get("media_type") != "IMAGE":
        return None
    alt = fields.get("alt_text")
    return Image(str(fields["image_url"]), alt if isinstance(alt, str) else None)


def publish(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _refused(state, request)
    if refused is not None:
        return refused
    token = request.bearer()
    container_id = request.query.get("creation_id", "")
    container = state.containers.get(container_id, token)
    if container is None:
        return _no_object(container_id)
    if state.containers.expire_now(container_id):  # the marker: expired, answer unclear
        return DIALECT.error(503, "Service Unavailable")

    def create() -> Response:
        before = state.containers.publish(container_id, lambda: _post(state, token, container))
        if before == "FINISHED":
            published = state.containers.get(container_id, token)
            assert published is not None
            return json_response(200, {"id": published.media_id})
        if before == "IN_PROGRESS":
            return graph_error(400, NOT_READY, "The media is not ready for publishing")
        return graph_error(400, INVALID, f"(#100) The container is {before.lower()}")

    return with_faults(
        state.faults,
        state.slow_seconds,
        DIALECT,
        PUBLISH,
        container.text,
        None,
        create,
        request.header("Authorization"),
    )


def _post(state: State, token: str | None, container: Container) -> str:
    """The post a published container makes; its media id."""

    def build(media_id: str, at: datetime) -> dict[str, Any]:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S+0000")
        return {"id": media_id, "text": container.text, "timestamp": stamp}

    _, made = state.ledger.create(
        kind="threads",
        path=POSTS,
        token=token,
        text=container.text,
        key=None,
        build=build,
        honour_key=False,
    )
    return str(made["id"])


def container_status(state: State, request: Request, params: Mapping[str, str]) -> Response:
    refused = _refused(state, request)
    if refused is not None:
        return refused
    container_id = params["container"]
    if state.containers.get(container_id, request.bearer()) is None:
        return _no_object(container_id)
    state.containers.poll(container_id)
    container = state.containers.get(container_id, request.bearer())
    assert container is not None
    answer = {"id": container_id, "status": container.status}
    if container.status == "ERROR":
        answer["error_message"] = "FAILED_DOWNLOADING_IMAGE"
    if state.containers.lands_late_now(container_id):  # FINISHED, published just after
        state.containers.publish(container_id, lambda: _post(state, container.token, container))
    return json_response(200, answer)


def user_posts(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """The user's posts (``facebook.graph_listing``)."""
    return graph_listing(state, request, POSTS)


def refresh_token(state: State, request: Request, params: Mapping[str, str]) -> Response:
    """A new long-lived token for the valid one in ``access_token``."""
    if request.query.get("grant_type") != "th_refresh_token":
        return graph_error(400, INVALID, "(#100) grant_type must be th_refresh_token")
    if not state.token_ok(request.query.get("access_token")):
        return DIALECT.unauthorized()
    issued = f"th-{secrets.token_urlsafe(12)}"
    return json_response(
        200, {"access_token": issued, "token_type": "bearer", "expires_in": LONG_LIVED}
    )


ROUTES: list[Route] = [
    route("POST", VERSION + POSTS, make_container),
    route("GET", VERSION + POSTS, user_posts),
    route("POST", VERSION + PUBLISH, publish),
    route("GET", VERSION + r"/(?P<container>\d+)", container_status),
    route("GET", f"({VERSION})?/refresh_access_token", refresh_token),
]
