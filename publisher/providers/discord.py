"""Discord: publish a post as a message through a channel's webhook ("Execute Webhook").

The credential is one webhook: its ``base_url`` is the webhook's URL without its token,
``https://discord.com/api/webhooks/{webhook.id}``, and its token the webhook's token (the
secret last segment of the URL Discord shows), so the token is encrypted at rest and
redacted like any other rather than stored in plain text inside ``base_url``. Nothing
per post is needed: a webhook posts to one channel, so no migration is needed either.

What the documentation says (https://discord.com/developers/docs/resources/webhook#execute-webhook,
https://discord.com/developers/docs/topics/rate-limits,
https://discord.com/developers/docs/topics/opcodes-and-status-codes#json):
- ``POST /webhooks/{id}/{token}?wait=true`` with JSON ``content`` (at most 2,000
  characters). ``wait`` "waits for server confirmation of message send before response,
  and returns the created message body (defaults to false; when false a message that is
  not saved does not return an error)": publisher always sends ``wait=true``, so a 2xx
  means the message exists and carries its ``id`` and ``channel_id``.
- Errors are JSON ``{"code", "message", "errors"?}`` with Discord's numeric codes:
  50027 invalid webhook token (401), 10015 unknown webhook (404, deleted), 50013 missing
  permissions (403), 50035 invalid form body and 50006 empty message (400), 40005 too
  large (413).
- Rate limits: every answer carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``
  (epoch seconds), ``-Reset-After``, ``-Bucket``; a 429 has ``Retry-After`` and a body
  ``{"message", "retry_after" (seconds, float), "global"}``. Both are honoured (the later
  counts) and a 429 holds the credential's other posts until then.
- "IP addresses that make too many invalid HTTP requests are automatically and
  temporarily restricted from accessing the Discord API": 10,000 responses of 401, 403
  or 429 per 10 minutes. So 401, 403 and an unknown webhook are ``unauthorized``: the
  credential is marked invalid at the first one and no other post calls with it until it
  is replaced; a 429 holds the credential (no call before ``retry_after``).
- Threads: a webhook cannot reply to a message, so a thread's parts are posted as
  consecutive messages, in order (each waits for the one before).
- No idempotency key (Execute Webhook takes no nonce), and the only read is
  ``GET /webhooks/{id}/{token}/messages/{message.id}``, which needs the id the lost
  answer carried: a lookup cannot tell, so an ambiguous attempt is never sent again
  blind; the post returns to draft as ``unconfirmed`` (``engine.plan.before_call``).
- Media go in the same request, as ``multipart/form-data`` with ``payload_json`` and
  ``files[n]``, each file's alt text as its attachment's ``description``
  (``discord_media``): the engine hands the files over (``base.CarriesFiles``).
- The credential's ``base_url`` is checked when it is created (``destination_problem``):
  ``https://discord.com/api/webhooks/{id}`` (or ``discordapp.com``, ``ptb.``/``canary.``,
  an ``/api/v{n}/`` path), a numeric webhook id and nothing after it: the token that
  follows the id in the URL Discord shows belongs in ``token``, encrypted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from publisher.errors import LookupFailed
from publisher.providers import discord_media, rest
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

# A message's ``content``: "up to 2000 characters".
TEXT_LIMIT = 2000

# An HTML error page (Cloudflare's ban page) can be large; the message only needs its start.
MAX_MESSAGE = 500

# Discord's API hosts (stable, public test build, canary), and a webhook's path: the id
# (a snowflake) and nothing after it.
HOSTS = frozenset({"discord.com", "ptb.discord.com", "canary.discord.com", "discordapp.com"})
WEBHOOK_PATH = re.compile(r"/api(/v[0-9]+)?/webhooks/[0-9]+/?")

# First matching row wins: Discord's JSON codes, then statuses. 401/403 and a deleted
# webhook stop the credential at once: each further one counts towards an IP ban.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAUTHORIZED, code=50027),  # invalid webhook token
    ErrorRule(Category.UNAUTHORIZED, code=10015),  # unknown webhook: it was deleted
    ErrorRule(Category.UNAUTHORIZED, status=401),
    ErrorRule(Category.UNAUTHORIZED, status=403),  # missing permissions in the channel
    ErrorRule(Category.UNAUTHORIZED, status=404),  # the webhook's URL names nothing
    ErrorRule(Category.FORBIDDEN, status=400),  # this message: invalid form body, empty, ...
    ErrorRule(Category.FORBIDDEN, status=413),  # the request is too large
    ErrorRule(Category.UNAVAILABLE, status=429),  # retry_after, X-RateLimit-*
    ErrorRule(Category.UNAVAILABLE, status=500),
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)


class DiscordProvider:
    """Publishes through one channel webhook; stateless, safe to share between threads."""

    name: str = "discord"
    text_rule: TextRule = utf16_rule(TEXT_LIMIT)
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = None  # Execute Webhook takes no key
    can_lookup: bool = False  # a message can only be read by the id the answer carried
    media_rule: MediaRule = discord_media.MEDIA_RULE
    uploader: MediaUploader | None = None  # files travel in the create (carries_files)
    carries_files: bool = True
    threads: bool = True  # parts follow each other in the channel, in order

    def destination_problem(self, base_url: str, allow_private: bool) -> str | None:
        """Why ``base_url`` is not a webhook's URL without its token, or None; a local
        stand-in (``allow_private``) may sit on any host, over http."""
        parts = urlsplit(base_url)
        example = "e.g. https://discord.com/api/webhooks/123456789012345678"
        if not WEBHOOK_PATH.fullmatch(parts.path):
            return f"must be the webhook's URL without its token, {example}"
        if allow_private:
            return None
        if parts.scheme != "https" or (parts.hostname or "") not in HOSTS:
            return f"must be a webhook on discord.com over https, {example}"
        return None

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``POST {base_url}/{token}?wait=true`` with the text as ``content`` (and the
        files as attachments, ``discord_media``); mentions are not parsed
        (``allowed_mentions``), so a post's text never pings anyone."""
        url = f"{rest.root(request.base_url)}/{request.token}?wait=true"
        payload = {"content": request.text, "allowed_mentions": {"parse": []}}
        if not request.files:
            return PreparedCall("POST", url, {"Content-Type": "application/json"}, json=payload)
        body, content_type = discord_media.multipart(payload, request.files)
        return PreparedCall("POST", url, {"Content-Type": content_type}, data=body)

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """The message's ``id`` and its link (``channel_id`` and ``guild_id`` when the
        answer has them); None without an id."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        message_id = body.get("id")
        if not isinstance(message_id, str) or not message_id:
            return None
        channel, guild = body.get("channel_id"), body.get("guild_id")
        url = None
        if isinstance(channel, str) and isinstance(guild, str):
            url = f"https://discord.com/channels/{guild}/{channel}/{message_id}"
        return Published(message_id, url)

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """The ``message``, the JSON ``code``, and a 429's ``retry_after``."""
        if not isinstance(body, Mapping):
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            message = text.strip() if isinstance(text, str) else ""
            return ProviderError((message or f"HTTP {status}")[:MAX_MESSAGE])
        text = body.get("message")
        message = text if isinstance(text, str) and text else f"HTTP {status}"
        code = body.get("code")
        codes: tuple[int | str, ...] = ()
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            codes = (code,)
        wait = body.get("retry_after")
        retry_after = None
        if isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0:
            retry_after = float(wait)
        if body.get("global") is True:
            message = f"{message} (global rate limit)"
        return ProviderError(message[:MAX_MESSAGE], codes, retry_after=retry_after)

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """A webhook cannot list what it posted: always ``LookupFailed``."""
        raise LookupFailed("a Discord webhook cannot list the messages it posted")
