"""The sandbox's Telegram Bot API: ``POST /bot<token>/sendMessage`` to a channel.

Answers as the Bot API does (https://core.telegram.org/bots/api#making-requests):
``{"ok": true, "result": Message}``, or ``{"ok": false, "error_code", "description",
"parameters"?}`` with the HTTP status equal to ``error_code``; a 429 carries only
``parameters.retry_after`` (no header), so a client must read the body to wait right.

A few chat names play the chat-level failures: ``@kicked`` (403, the bot was removed),
``@nowhere`` (400 "chat not found") and ``@oldgroup`` (400 with
``parameters.migrate_to_chat_id``). A reply to a message the bot never sent is a 400.
Fault markers (``faults.py``) work as for the other providers.

Telegram has no idempotency key and no way for a bot to read a channel back, so there is
nothing for a helpful mode to be kind about: every create creates, as in strict mode, and
the kind is not one of ``state.KINDS`` (whose helpful mode replays a repeated key).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from publisher.sandbox.faults import with_faults
from publisher.sandbox.state import Route, State, route
from publisher.sandbox.wire import Request, Response, json_response

SEND = "/sendMessage"
MAX_CHARS = 4096  # sendMessage's limit, counted in UTF-16 code units
MIGRATED_TO = -1009999  # the supergroup ``@oldgroup`` became
# Chats that fail whatever is sent: (status, description, parameters).
CHAT_FAILURES: Mapping[str, tuple[int, str, dict[str, Any]]] = {
    "@kicked": (403, "Forbidden: bot was kicked from the channel chat", {}),
    "@nowhere": (400, "Bad Request: chat not found", {}),
    "@oldgroup": (
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": MIGRATED_TO},
    ),
}


class TelegramDialect:
    def error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        """The Bot API's error object; a throttle's ``Retry-After`` moves into
        ``parameters.retry_after``, as Telegram sends it."""
        return failure(status, message, _retry_parameters(headers))

    def unauthorized(self) -> Response:
        return failure(401, "Unauthorized")

    def rate_limit_headers(self, until: datetime) -> dict[str, str]:
        return {}  # Telegram says how long to wait in the body only


DIALECT = TelegramDialect()


def failure(status: int, description: str, parameters: Mapping[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = dict(parameters)
    return json_response(status, body)


def _retry_parameters(headers: Mapping[str, str] | None) -> dict[str, Any]:
    wait = (headers or {}).get("Retry-After")
    return {"retry_after": int(wait)} if wait is not None and wait.isdigit() else {}


def send_message(state: State, request: Request, params: Mapping[str, str]) -> Response:
    token = params["token"]
    if not state.token_ok(token):
        return DIALECT.unauthorized()
    fields = request.fields()
    chat, text = str(fields.get("chat_id") or ""), str(fields.get("text") or "")
    path = f"/{chat}{SEND}"  # each chat is its own timeline in the ledger

    def create() -> Response:
        refused = _refusal(state, token, path, chat, text, fields.get("reply_parameters"))
        if refused is not None:
            return refused

        def build(post_id: str, at: datetime) -> dict[str, Any]:
            message = {"message_id": int(post_id), "date": int(at.timestamp()), "text": text}
            return {"ok": True, "result": message | {"chat": {"id": chat, "type": "channel"}}}

        _, payload = state.ledger.create(
            kind="telegram", path=path, token=token, text=text, key=None, build=build
        )
        return json_response(200, payload)

    return with_faults(state.faults, state.slow_seconds, DIALECT, path, text, None, create)


def _refusal(
    state: State, token: str, path: str, chat: str, text: str, reply: object
) -> Response | None:
    """Why the Bot API refuses this message, or None."""
    if chat in CHAT_FAILURES:
        return failure(*CHAT_FAILURES[chat])
    if not text.strip():
        return failure(400, "Bad Request: message text is empty")
    if utf16_length(text) > MAX_CHARS:
        return failure(400, "Bad Request: message is too long")
    return reply_refusal(state, token, path, reply)


def utf16_length(text: str) -> int:
    """``text``'s length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def reply_refusal(state: State, token: str, path: str, reply: object) -> Response | None:
    """A 400 when ``reply`` (``reply_parameters``) names no message this bot sent to the
    chat at ``path``; None when it does, or there is no reply."""
    if reply is None:
        return None
    replied = reply.get("message_id") if isinstance(reply, dict) else None
    if state.ledger.find(path, token, str(replied)) is None:
        return failure(400, "Bad Request: message to be replied not found")
    return None


ROUTES: list[Route] = [
    route("POST", r"/bot(?P<token>[^/]+)/sendMessage", send_message),
]
