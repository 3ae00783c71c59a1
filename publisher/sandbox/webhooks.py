"""The sandbox's webhook receiver: ``POST /hooks/{name}`` stores each delivery.

Helpful (the default), it dedupes on ``Idempotency-Key``: a repeated key is answered with
the first delivery's id and URL, and counted as a replay, not a create. Strict, it ignores
the key and every delivery creates, as a receiver that never promised dedup does. A bearer
token is optional; one in the invalid set is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from publisher.sandbox.faults import with_faults
from publisher.sandbox.mastodon import MastodonDialect
from publisher.sandbox.state import Delivery, Route, State, route
from publisher.sandbox.wire import Request, Response, json_response


class WebhookDialect(MastodonDialect):
    def unauthorized(self) -> Response:
        return self.error(401, "unauthorized")


DIALECT = WebhookDialect()


def delivery_text(request: Request) -> str:
    """The text a delivery carries: a JSON body's ``text``, else the whole body."""
    try:
        body = request.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("text"), str):
        return str(body["text"])
    return request.body.decode("utf-8", errors="replace")


def receive(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = request.bearer()
    if token is not None and not state.token_ok(token):
        return DIALECT.unauthorized()
    name, path = params["name"], request.path
    text = delivery_text(request)
    key = request.header("Idempotency-Key")

    def create() -> Response:
        def build(post_id: str, at: datetime) -> dict[str, Any]:
            return {"id": post_id, "url": f"{request.base_url}{path}/{post_id}"}

        outcome, payload = state.ledger.create(
            kind="webhook",
            path=path,
            token=token,
            text=text,
            key=key,
            build=build,
            honour_key=not state.is_strict("webhook"),
        )
        replay = outcome == "replayed"
        headers = dict(request.headers)
        at = datetime.now(UTC)
        state.deliveries.append(
            Delivery(name, headers, request.body, key, payload["id"], replay, at)
        )
        return json_response(200, payload)

    return with_faults(
        state.faults,
        state.slow_seconds,
        DIALECT,
        path,
        text,
        key,
        create,
        request.header("Authorization"),
    )


ROUTES: list[Route] = [
    route("POST", r"/hooks/(?P<name>[^/]+)", receive),
]
