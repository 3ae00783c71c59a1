"""Telegram: publish a post to a channel through the Bot API's ``sendMessage``.

The credential is one bot in one chat: its token is the bot token, its ``base_url`` the
Bot API server followed by the chat, e.g. ``https://api.telegram.org/@mychannel`` or
``https://api.telegram.org/-1001234567890``. The chat lives in the credential, not in
each post's options, because it is where the token is good: a bot removed from the
channel, an unknown chat or a group migrated to a supergroup make every post of the
credential fail alike, so they mark the credential invalid (``unauthorized``: no further
call is made with it) rather than cancel one post after another; and a migration needs no
schema change (a new credential with the new chat id).

What the documentation says (https://core.telegram.org/bots/api):
- Requests: ``POST {server}/bot<token>/sendMessage`` with JSON ``chat_id`` (``@username``
  of a channel or its numeric id) and ``text`` ("1-4096 characters after entities
  parsing"; publisher sends plain text, no ``parse_mode``). The token is in the URL's
  path, so the call log redacts it there by value like any other secret.
- Answers: ``{"ok": true, "result": Message}`` (``message_id``, ``chat``); an error is
  ``{"ok": false, "error_code", "description", "parameters"?}`` where ``error_code`` is
  the HTTP status and ``description`` the only detail ("#making-requests").
- ``ResponseParameters`` (#responseparameters): ``retry_after`` "in case of exceeding
  flood control, the number of seconds left to wait before the request can be
  repeated" (a 429); ``migrate_to_chat_id``: "the group has been migrated to a
  supergroup with the specified identifier". ``retry_after`` is honoured like a
  ``Retry-After`` header (``ProviderError.retry_after``).
- Threads: a later part answers the one before with ``reply_parameters.message_id``
  (#replyparameters); ``allow_sending_without_reply`` stays false, so a part whose
  predecessor was deleted fails (400) rather than posting out of its thread.
- No idempotency key, and a bot cannot read a channel's history (there is no method to
  list a chat's messages; bots only receive updates, #getting-updates). So ``lookup``
  cannot tell: after an ambiguous attempt (a timeout, a 5xx) the engine does not send
  again; the post returns to draft as ``unconfirmed`` with a notification
  (``engine.plan.before_call`` when ``can_lookup`` is False and there is no window).
- Media go in the request that sends the message (``sendPhoto``, ``sendVideo``,
  ``sendAnimation``, ``sendMediaGroup``; ``telegram_media``): the engine hands the files
  over (``base.CarriesFiles``). An album answers an array of messages; the post's id is
  the first message's (a later part of a thread replies to it). An ambiguous album is
  ``unconfirmed`` like any other attempt: nothing can read it back.
- The credential's ``base_url`` is checked when it is created (``destination_problem``):
  https (http only where private addresses are allowed), a chat at the end that is an
  ``@username`` (4-32 letters, digits, underscores; #chat: "@channelusername") or a
  numeric id, and no bot token in it (the token belongs in ``token``, encrypted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from publisher.errors import LookupFailed
from publisher.providers import telegram_media
from publisher.providers.base import (
    Category,
    ErrorRule,
    GetJson,
    MediaUploader,
    PreparedCall,
    ProviderError,
    Published,
    PublishRequest,
)
from publisher.providers.media_rule import MediaRule
from publisher.providers.text.rule import TextRule, utf16_rule

# sendMessage's "1-4096 characters after entities parsing". Telegram counts message
# entities in UTF-16 code units, so the length is counted the same way: never less than
# the characters Telegram counts, so a text that passes is never refused as too long.
TEXT_LIMIT = 4096

# A code publisher gives an error that carries ``parameters.migrate_to_chat_id``.
MIGRATED = "migrate_to_chat_id"

# An error description is one line; the message only needs its start.
MAX_MESSAGE = 500

# First matching row wins. ``error_code`` equals the HTTP status; descriptions carry the
# detail ("Bad Request: chat not found", "Forbidden: bot was kicked from the channel
# chat"). The chat is the credential's, so a chat-level refusal stops the credential.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAUTHORIZED, code=MIGRATED),  # the group became a supergroup
    ErrorRule(Category.UNAUTHORIZED, status=401),  # the token is wrong or revoked
    ErrorRule(Category.UNAUTHORIZED, status=404),  # the token names no bot ("Not Found")
    ErrorRule(Category.UNAUTHORIZED, status=403),  # kicked, not a member, not an admin
    ErrorRule(Category.UNAUTHORIZED, status=400, text="chat not found"),  # wrong chat
    ErrorRule(Category.FORBIDDEN, status=400),  # this message: too long, reply gone, ...
    ErrorRule(Category.FORBIDDEN, status=413),  # a file over the upload limit
    ErrorRule(Category.UNAVAILABLE, status=429),  # flood control: parameters.retry_after
    ErrorRule(Category.UNAVAILABLE, status=500),
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)


RULE = utf16_rule(TEXT_LIMIT)

# A chat as a credential's last path segment: a public ``@username`` (letters, digits and
# underscores; 5-32 when chosen, 4 for the collectible ones sold on Fragment) or a
# numeric id (a channel's is negative, -100...).
CHAT = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,20}")
# A bot token (``123456:ABC...``), or a ``bot<token>`` path segment, pasted into base_url.
TOKEN_IN_URL = re.compile(r"(^|/)(bot)?[0-9]+:[A-Za-z0-9_-]+")


def split_base_url(base_url: str) -> tuple[str, str]:
    """The Bot API server's root and the chat id from a credential's ``base_url``: the
    last path segment is the chat, what comes before it the server (a self-hosted Bot API
    server may sit under a path)."""
    parts = urlsplit(base_url.rstrip("/"))
    server_path, _, chat = parts.path.rpartition("/")
    return f"{parts.scheme}://{parts.netloc}{server_path}", chat


def message_url(chat: str, message_id: str) -> str | None:
    """The message's public link: ``t.me/<username>/<id>`` for a public channel,
    ``t.me/c/<id>/<id>`` (members only) for a ``-100...`` id; None for any other chat."""
    if chat.startswith("@"):
        return f"https://t.me/{chat[1:]}/{message_id}"
    if chat.startswith("-100") and chat[4:].isdigit():
        return f"https://t.me/c/{chat[4:]}/{message_id}"
    return None


class TelegramProvider:
    """Publishes to one chat as one bot; stateless, safe to share between threads."""

    name: str = "telegram"
    text_rule: TextRule = RULE
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = None  # the Bot API has no idempotency key
    can_lookup: bool = False  # a bot cannot read a channel back
    media_rule: MediaRule = telegram_media.MEDIA_RULE
    uploader: MediaUploader | None = None  # files travel in the create (carries_files)
    carries_files: bool = True
    threads: bool = True  # a part replies to the part before (reply_parameters)

    def destination_problem(self, base_url: str, allow_private: bool) -> str | None:
        """Why ``base_url`` is not a Bot API server followed by a chat, or None."""
        parts = urlsplit(base_url)
        if parts.scheme != "https" and not allow_private:
            return "must be an https URL (the Bot API server)"
        if TOKEN_IN_URL.search(parts.path):
            return "must not contain the bot token: give it as token"
        chat = split_base_url(base_url)[1]
        if not CHAT.fullmatch(chat):
            return (
                "must end with the chat: an @username (4-32 letters, digits or underscores)"
                " or a numeric chat id, e.g. https://api.telegram.org/@mychannel"
            )
        return None

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``POST {server}/bot<token>/sendMessage`` with the chat and the text; with
        files, the method that carries them (``telegram_media``). A thread's later part
        replies to the part before it."""
        server, chat = split_base_url(request.base_url)
        if request.files:
            return telegram_media.prepare(
                server, request.token, chat, request.text, request.files, request.reply_to
            )
        body: dict[str, Any] = {"chat_id": chat, "text": request.text}
        if request.reply_to is not None:
            body["reply_parameters"] = {"message_id": int(request.reply_to)}
        return PreparedCall(
            method="POST",
            url=f"{server}/bot{request.token}/sendMessage",
            headers={"Content-Type": "application/json"},
            json=body,
        )

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """``result.message_id`` (an album's: its first message's) and its t.me link
        when ``ok`` is true; None otherwise."""
        if not 200 <= status < 300 or not isinstance(body, Mapping) or body.get("ok") is not True:
            return None
        result = body.get("result")
        if isinstance(result, list):  # sendMediaGroup: the messages sent, in order
            result = result[0] if result else None
        message_id = result.get("message_id") if isinstance(result, Mapping) else None
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            return None
        chat = split_base_url(request.base_url)[1] if request is not None else ""
        return Published(str(message_id), message_url(chat, str(message_id)))

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """The ``description`` (naming the new chat id after a migration), the
        ``error_code`` and ``MIGRATED`` as codes, ``parameters.retry_after``."""
        if not isinstance(body, Mapping):
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            message = text.strip() if isinstance(text, str) and text.strip() else ""
            return ProviderError(message=(message or f"HTTP {status}")[:MAX_MESSAGE])
        description = body.get("description")
        message = description if isinstance(description, str) and description else f"HTTP {status}"
        codes: list[int | str] = []
        code = body.get("error_code")
        if isinstance(code, int) and not isinstance(code, bool):
            codes.append(code)
        parameters = body.get("parameters")
        parameters = parameters if isinstance(parameters, Mapping) else {}
        migrated = parameters.get(MIGRATED)
        if isinstance(migrated, int) and not isinstance(migrated, bool):
            codes.append(MIGRATED)
            message = f"{message} (the chat is now {migrated}: connect that chat id)"
        wait = parameters.get("retry_after")
        retry_after = None
        if isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0:
            retry_after = float(wait)
        return ProviderError(message[:MAX_MESSAGE], tuple(codes), retry_after=retry_after)

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """A bot cannot read a channel's messages: always ``LookupFailed``."""
        raise LookupFailed("a Telegram bot cannot read a channel's messages back")
