"""Mastodon: publish a status through the instance's REST API.

Mastodon honours ``Idempotency-Key`` on ``POST /api/v1/statuses`` (kept about an hour):
a retry with the same key returns the original status instead of posting twice.
Reconciliation reads the account's statuses newest first, paging back with ``max_id``
until they are older than the first attempt, and matches the post's text against the
rendered HTML ``content``. Sources: https://docs.joinmastodon.org/methods/accounts/#statuses
(``limit`` at most 40, ``max_id``), https://docs.joinmastodon.org/api/guidelines/#pagination.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from publisher.errors import LookupFailed
from publisher.providers import rest
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
from publisher.providers.mastodon_media import UPLOADER as MASTODON_UPLOADER
from publisher.providers.media_rule import MASTODON as MASTODON_MEDIA
from publisher.providers.media_rule import MediaRule
from publisher.providers.text.rule import TextRule

# Options passed through to the status body; anything else in ``options`` is ignored.
ALLOWED_OPTIONS = (
    "visibility",
    "spoiler_text",
    "language",
    "sensitive",
    "in_reply_to_id",
    "media_ids",
    "poll",
)

# A status created on the server may carry a timestamp a little before our own clock's
# ``since`` (clock skew between us and the instance).
CLOCK_SKEW = timedelta(minutes=5)

# 40 is the API's maximum page; a post we just sent is among the newest, and a few pages
# bound the requests a busy account can cost us.
LOOKUP_LIMIT = 40
LOOKUP_PAGES = 5

# "@user@example.social" renders as "@user" in the status HTML.
_REMOTE_MENTION = re.compile(r"(?<![\w@])@(\w+)@[\w.-]*\w")

# An HTML error page can be large; the message only needs its start.
MAX_MESSAGE = 500

# First matching row wins; a status not listed (404 included) is left unclassified.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAUTHORIZED, status=401),  # token invalid, expired or revoked
    ErrorRule(Category.FORBIDDEN, status=403),  # e.g. account suspended or lacks scope
    ErrorRule(Category.FORBIDDEN, status=410),  # account or replied-to status gone
    ErrorRule(Category.FORBIDDEN, status=422),  # validation failed (too long, bad poll...)
    ErrorRule(Category.FORBIDDEN, status=413),  # a media upload too large for the server
    ErrorRule(Category.FORBIDDEN, status=415),  # a media type the server does not take
    ErrorRule(Category.UNAVAILABLE, status=408),
    ErrorRule(Category.UNAVAILABLE, status=425),
    ErrorRule(Category.UNAVAILABLE, status=429),  # rate limited; see X-RateLimit-Reset
    ErrorRule(Category.UNAVAILABLE, status=500),
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)


class MastodonProvider:
    """Publishes to one Mastodon account; stateless, safe to share between threads."""

    name: str = "mastodon"
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    # "Idempotency keys are stored for up to 1 hour" (docs.joinmastodon.org, POST
    # /api/v1/statuses), and only once the status exists: two requests in flight at
    # once both post. So a lookup still comes first after an ambiguous attempt.
    idempotency_window: timedelta | None = timedelta(hours=1)
    can_lookup: bool = True
    media_rule: MediaRule = MASTODON_MEDIA  # attachments per post, kinds, sizes, alt
    uploader: MediaUploader | None = MASTODON_UPLOADER  # POST /api/v2/media, then polls
    threads: bool = True  # a part replies to the one before (in_reply_to_id)

    @property
    def text_rule(self) -> TextRule:
        """Graphemes, URLs 23; 500 by default. Imported on first use: building its link
        patterns takes about a second, which the API pays once and a worker never."""
        from publisher.providers.text import mastodon_length

        return mastodon_length.RULE

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``POST /api/v1/statuses`` with the idempotency key and the allowed options."""
        body = rest.with_options({"status": request.text}, request.options, ALLOWED_OPTIONS)
        if request.reply_to is not None:  # a thread's later part answers the one before
            body["in_reply_to_id"] = request.reply_to
        if request.media_ids:
            body["media_ids"] = list(request.media_ids)
        return PreparedCall(
            method="POST",
            url=f"{rest.root(request.base_url)}/api/v1/statuses",
            headers={**rest.bearer(request.token), "Idempotency-Key": request.idempotency_key},
            json=body,
        )

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """The status ``id`` and its ``url`` (else ``uri``); None without an id."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        return _published(body)

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """The ``error`` of a JSON body, else the text body, else the status; no codes."""
        if isinstance(body, Mapping) and isinstance(body.get("error"), str):
            message = body["error"]
            if isinstance(body.get("error_description"), str):
                message = f"{message}: {body['error_description']}"
        elif isinstance(body, str | bytes) and body.strip():
            message = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        else:
            message = f"HTTP {status}"
        return ProviderError(message=message.strip()[:MAX_MESSAGE])

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """Every status of the account with the post's text, created at or after
        ``since`` (less ``CLOCK_SKEW``), oldest first.

        Pages back with ``max_id`` for at most ``LOOKUP_PAGES`` pages, stopping at a short
        page or one that reaches statuses older than that. Raises ``LookupFailed`` on a
        failed call, an answer of the wrong shape, or when a full page remains after the
        last one read (it cannot tell).
        """
        root = rest.root(request.base_url)
        headers = rest.bearer(request.token)
        account = get_json(f"{root}/api/v1/accounts/verify_credentials", headers)
        if not isinstance(account, Mapping) or account.get("id") is None:
            raise LookupFailed("verify_credentials answered without an account id")
        url = f"{root}/api/v1/accounts/{account['id']}/statuses?limit={LOOKUP_LIMIT}"
        expected = normalise(request.text)
        earliest = since - CLOCK_SKEW
        found: list[Published] = []
        page_url = url
        for _ in range(LOOKUP_PAGES):
            statuses = get_json(page_url, headers)
            if not isinstance(statuses, list):
                raise LookupFailed("the account's statuses are not a list")
            found += [
                published
                for item in statuses
                if isinstance(item, Mapping) and _matches(item, request.text, expected, earliest)
                for published in [_published(item)]
                if published is not None
            ]
            # A short page is the last (Mastodon offers a next page only after a full one).
            if len(statuses) < LOOKUP_LIMIT or _reaches_before(statuses, earliest):
                return found[::-1]  # Mastodon lists newest first
            page_url = f"{url}&max_id={_oldest_id(statuses)}"
        raise LookupFailed(f"more than {LOOKUP_PAGES} pages of statuses since the first attempt")


def html_to_text(content: str) -> str:
    """The text of a status's HTML ``content``: tags dropped, entities unescaped.

    Line breaks and paragraph ends become newlines, so "<p>a</p><p>b</p>" reads "a b"
    once normalised rather than "ab". Text in hidden spans is kept: Mastodon shortens a
    link's label with them, and together they spell the full URL.
    """
    reader = _TextReader()
    reader.feed(content)
    reader.close()
    return "".join(reader.parts).strip()


def normalise(text: str) -> str:
    """``text`` as Mastodon displays it, for comparison: NFC, remote mentions shortened
    to ``@user`` (the rendered HTML drops the domain), whitespace runs as one space.
    """
    text = _REMOTE_MENTION.sub(r"@\1", unicodedata.normalize("NFC", text))
    return " ".join(text.split())


class _TextReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _matches(status: Mapping[str, Any], text: str, expected: str, earliest: datetime) -> bool:
    created = rest.parse_time(status.get("created_at"))
    if created is None or created < earliest:
        return False
    if status.get("text") == text:  # only some servers and endpoints include the source
        return True
    content = status.get("content")
    return isinstance(content, str) and normalise(html_to_text(content)) == expected


def _reaches_before(statuses: list[Any], earliest: datetime) -> bool:
    """Whether the page's oldest status is older than ``earliest`` (the rest are older)."""
    oldest = statuses[-1]
    created = rest.parse_time(oldest.get("created_at")) if isinstance(oldest, Mapping) else None
    return created is not None and created < earliest


def _oldest_id(statuses: list[Any]) -> str:
    """The ``max_id`` of the next page: the id of this page's oldest status."""
    oldest = statuses[-1]
    status_id = oldest.get("id") if isinstance(oldest, Mapping) else None
    if not isinstance(status_id, str | int) or isinstance(status_id, bool) or status_id == "":
        raise LookupFailed("a full page of statuses ends without an id to page back from")
    return quote(str(status_id), safe="")


def _published(status: Mapping[str, Any]) -> Published | None:
    status_id = status.get("id")
    if status_id is None or status_id == "":
        return None
    url = status.get("url") or status.get("uri")
    return Published(external_id=str(status_id), external_url=url if isinstance(url, str) else None)
