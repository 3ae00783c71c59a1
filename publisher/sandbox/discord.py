"""The sandbox's Discord: ``POST /api/webhooks/{id}/{token}`` ("Execute Webhook").

Answers as Discord does (https://discord.com/developers/docs/resources/webhook#execute-webhook):
with ``?wait=true`` a 200 and the message (``id``, ``channel_id``, ``guild_id``,
``content``); without it a bare 204, and a message that fails validation is silently
dropped (what "when false a message that is not saved does not return an error" means
for a client). Errors are ``{"message", "code"}``; a 429 carries ``retry_after`` (seconds,
a float) and ``global`` in the body, plus ``Retry-After`` and ``X-RateLimit-*`` headers
(https://discord.com/developers/docs/topics/rate-limits).

A few webhook ids play the webhook-level failures: ``404`` (10015 Unknown Webhook, it was
deleted) and ``403`` (50013 Missing Permissions); a token in the sandbox's invalid set is
50027 Invalid Webhook Token (401). Fault markers (``faults.py``) work as elsewhere.

A multipart body (``payload_json`` and ``files[n]``) carries attachments, each kept with
its sha256 and description on the create's ``media`` (``sandbox.discord_media``).

Execute Webhook has no idempotency key, so as with Telegram strict and helpful are alike
(every create creates) and the kind is not one of ``state.KINDS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from publisher.sandbox import discord_media
from publisher.sandbox.faults import with_faults
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, json_response

MAX_CHARS = 2000  # a message's content, counted in UTF-16 code units here
GUILD, CHANNEL = "900", "901"  # the sandbox's one server and channel
# Webhook ids that fail whatever is sent: (status, code, message).
WEBHOOK_FAILURES: Mapping[str, tuple[int, int, str]] = {
    "404": (404, 10015, "Unknown Webhook"),
    "403": (403, 50013, "Missing Permissions"),
}


class DiscordDialect:
    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        """Discord's error object; a 429 says how long to wait in the body as well."""
        body: dict[str, Any] = {"message": message, "code": 0}
        wait = (headers or {}).get("Retry-After")
        if status == 429 and wait is not None:
            body = {"message": "You are being rate limited.", "retry_after": float(wait)}
            body["global"] = False
        return json_response(status, body, headers)

    def unauthorized(self) -> Response:
        return json_response(401, {"message": "Invalid Webhook Token", "code": 50027})

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        left = max(until.timestamp() - datetime.now(until.tzinfo).timestamp(), 0.0)
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{until.timestamp():.3f}",
            "X-RateLimit-Reset-After": f"{left:.3f}",
            "X-RateLimit-Bucket": "sandbox-webhook",
        }


DIALECT = DiscordDialect()


def execute(state: State, request: Request, params: Mapping[str, str]) -> Response:
    webhook, token = params["id"], params["token"]
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    if webhook in WEBHOOK_FAILURES:
        status, code, message = WEBHOOK_FAILURES[webhook]
        return json_response(status, {"message": message, "code": code})
    sent = discord_media.read(request)  # JSON, or payload_json and files[n]
    text = str(sent.fields.get("content") or "")
    wait = request.query.get("wait", "false").lower() == "true"
    path = f"/api/webhooks/{webhook}"

    def create() -> Response:
        refused = _refusal(text, bool(sent.files)) or discord_media.refusal(sent)
        if refused is not None:
            return refused if wait else Response(204, b"")  # dropped without a word
        media = discord_media.records(state, token, sent)

        def build(post_id: str, at: datetime) -> dict[str, Any]:
            return {
                "id": post_id,
                "channel_id": CHANNEL,
                "guild_id": GUILD,
                "webhook_id": webhook,
                "content": text,
                "timestamp": at.isoformat(),
                "attachments": [discord_media.attachment(m, request.base_url) for m in media],
            }

        _, payload = state.ledger.create(
            kind="discord", path=path, token=token, text=text, key=None, build=build, media=media
        )
        return json_response(200, payload) if wait else Response(204, b"")

    return with_faults(state.faults, state.slow_seconds, DIALECT, path, text, None, create)


def _refusal(text: str, files: bool = False) -> Response | None:
    if not text.strip() and not files:  # a message of files alone is fine
        return json_response(400, {"message": "Cannot send an empty message", "code": 50006})
    if len(text.encode("utf-16-le")) // 2 > MAX_CHARS:
        errors = {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}
        body = {"message": "Invalid Form Body", "code": 50035, "errors": errors}
        return json_response(400, body)
    return None


ROUTES: list[Route] = [
    route("POST", r"/api/webhooks/(?P<id>[^/]+)/(?P<token>[^/]+)", execute),
]
