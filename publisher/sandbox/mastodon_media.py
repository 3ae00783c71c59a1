"""The sandbox's Mastodon media endpoints: ``POST /api/v2/media`` and
``GET /api/v1/media/:id``.

An upload (multipart ``file``, optional ``description``) answers 200 with its ``url``
when ready at once, else 202 with ``url: null``; a poll answers 206 while the file is
processing and 200 after. A description over 1,500 characters, a missing file or a type
that is neither image nor video is a 422, as on Mastodon. Sources:
https://docs.joinmastodon.org/methods/media/#v2,
https://docs.joinmastodon.org/methods/media/#get.
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.sandbox.mastodon import DIALECT
from publisher.sandbox.media import mastodon_attachment, uploaded
from publisher.sandbox.multipart import form
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, json_response

UPLOAD = "/api/v2/media"
MAX_DESCRIPTION = 1_500  # Mastodon's limit on a media description (characters)


def upload(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    parts = form(request)
    file = parts.get("file")
    if file is None or not file.content:
        return DIALECT.error(422, "Validation failed: File can't be blank")
    if not (file.content_type or "").startswith(("image/", "video/")):
        return DIALECT.error(422, "Validation failed: File content type is invalid")
    description = parts["description"].text if "description" in parts else None
    if description is not None and len(description) > MAX_DESCRIPTION:
        return DIALECT.error(
            422, f"Validation failed: Description is too long (maximum is {MAX_DESCRIPTION})"
        )
    polls = state.media_processing_polls
    media_id = state.ledger.next_id()
    record = state.media.add(
        uploaded("mastodon", token, media_id, file, description, polls_left=polls)
    )
    return json_response(202 if polls else 200, mastodon_attachment(record, request.base_url))


def poll(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    record = state.media.poll("mastodon", token, params["id"])
    if record is None:
        return DIALECT.error(404, "Record not found")
    return json_response(
        206 if record.polls_left > 0 else 200, mastodon_attachment(record, request.base_url)
    )


ROUTES: list[Route] = [
    route("POST", UPLOAD, upload),
    route("GET", r"/api/v1/media/(?P<id>[^/]+)", poll),
]
