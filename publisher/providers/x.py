"""X (Twitter): publish a post through API v2 ``POST /2/tweets``.

X honours no idempotency key, so none is sent; a retry after an ambiguous timeout relies
on reconciliation (``lookup``), and on X refusing duplicate content only when it happens
to. Errors come as v2 problem JSON (``title``/``detail``/``type``) or in the classic
``errors`` list with numeric codes; the table names the codes first, then the statuses.

A lookup reads the account's posts since the first attempt (``GET /2/users/:id/tweets``
with ``start_time``, following ``meta.next_token`` as ``pagination_token``) and compares
each post's text with ours exactly, once X's rewriting is undone: X returns ``&``, ``<``
and ``>`` as HTML entities and every link as a ``https://t.co/...`` link whose original is
the ``expanded_url`` of its ``entities.urls`` item (asked for with
``tweet.fields=entities``); a link X appends for attached media (an item with a
``media_key``) was never in our text. Sources:
https://docs.x.com/x-api/posts/user-posts-timeline-by-user-id,
https://docs.x.com/x-api/fundamentals/pagination,
https://developer.twitter.com/en/docs/twitter-api/data-dictionary/example-payloads.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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
from publisher.providers.media_rule import MediaRule
from publisher.providers.media_rule import X as X_MEDIA
from publisher.providers.text.rule import TextRule
from publisher.providers.x_media import UPLOADER as X_UPLOADER

# Options passed through to the post body; anything else in ``options`` is ignored.
ALLOWED_OPTIONS = ("reply", "quote_tweet_id", "media", "poll", "reply_settings")

# X's timestamp for a post may be a little before our own clock's ``since``.
CLOCK_SKEW = timedelta(minutes=5)

# Lookups ask only for posts since the first attempt (start_time), so a busy account
# cannot push ours out of the window; a few pages bound the read quota spent.
LOOKUP_LIMIT = 100  # the most X returns in one page
LOOKUP_PAGES = 5  # pages searched (posts since the first attempt, newest first)
# created_at to keep to the window; entities to expand t.co links back to ours.
LOOKUP_FIELDS = "created_at,entities"

# A problem "type" that names nothing; not worth keeping as a code.
_BLANK_TYPE = "about:blank"

# An HTML error page can be large; the message only needs its start.
MAX_MESSAGE = 500

# First matching row wins: classic codes, then text, then plain statuses (400 and any
# status not listed are left unclassified).
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAUTHORIZED, code=32),  # could not authenticate you
    ErrorRule(Category.UNAUTHORIZED, code=89),  # invalid or expired token
    ErrorRule(Category.FORBIDDEN, code=64),  # account suspended
    ErrorRule(Category.FORBIDDEN, code=226),  # looks automated
    ErrorRule(Category.FORBIDDEN, code=261),  # application cannot perform write actions
    ErrorRule(Category.FORBIDDEN, code=326),  # account locked
    ErrorRule(Category.DUPLICATE, code=187),  # status is a duplicate
    ErrorRule(Category.UNAVAILABLE, code=88),  # rate limit exceeded
    ErrorRule(Category.UNAVAILABLE, code=130),  # over capacity
    ErrorRule(Category.UNAVAILABLE, code=131),  # internal error
    ErrorRule(Category.UNAVAILABLE, code=185),  # over the daily post limit
    ErrorRule(Category.DUPLICATE, status=403, text="duplicate content"),  # v2's wording
    ErrorRule(Category.UNAUTHORIZED, status=401),
    ErrorRule(Category.FORBIDDEN, status=403),
    ErrorRule(Category.FORBIDDEN, status=422),
    ErrorRule(Category.FORBIDDEN, status=413),  # a media upload too large for the server
    ErrorRule(Category.FORBIDDEN, status=415),  # a media type the server does not take
    ErrorRule(Category.UNAVAILABLE, status=429),
    ErrorRule(Category.UNAVAILABLE, status=500),
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)


class XProvider:
    """Publishes to one X account; stateless, safe to share between threads."""

    name: str = "x"
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = None  # X has no idempotency key
    can_lookup: bool = True
    media_rule: MediaRule = X_MEDIA  # attachments per post, kinds, sizes, alt
    uploader: MediaUploader | None = X_UPLOADER  # POST /2/media/upload, alt text, polls
    threads: bool = True  # a part replies to the one before (reply.in_reply_to_tweet_id)

    @property
    def text_rule(self) -> TextRule:
        """Twitter-text's weighted length, at most 280. Imported on first use: building its link
        patterns takes about a second, which the API pays once and a worker never."""
        from publisher.providers.text import x_length

        return x_length.RULE

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``POST /2/tweets`` with the text and the allowed options; no idempotency key."""
        body = rest.with_options({"text": request.text}, request.options, ALLOWED_OPTIONS)
        if request.reply_to is not None:  # a thread's later part answers the one before
            body["reply"] = {"in_reply_to_tweet_id": request.reply_to}
        if request.media_ids:
            body["media"] = {"media_ids": list(request.media_ids)}
        return PreparedCall(
            method="POST",
            url=f"{rest.root(request.base_url)}/2/tweets",
            headers=rest.bearer(request.token),
            json=body,
        )

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """``data.id`` and its web URL; None without an id."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        data = body.get("data")
        return _published(data) if isinstance(data, Mapping) else None

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """Problem ``title``/``detail`` and every ``errors`` message, joined with "; ";
        every classic numeric ``code``, plus the problem ``type`` URI when it names one.
        """
        if isinstance(body, Mapping):
            messages, codes = _read_problem(body)
        elif isinstance(body, str | bytes) and body.strip():
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            messages, codes = [text.strip()], []
        else:
            messages, codes = [], []
        message = "; ".join(messages) or f"HTTP {status}"
        return ProviderError(message=message[:MAX_MESSAGE], codes=tuple(codes))

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """Every post of the account whose text, with its t.co links expanded and its HTML
        entities unescaped, is exactly the post's text, not created before ``since`` less
        ``CLOCK_SKEW`` (when X says when), oldest first.

        Reads at most ``LOOKUP_PAGES`` pages, stopping early once a page reaches posts
        older than that. Raises ``LookupFailed`` on a failed call, an answer of the wrong
        shape, or when more pages remain after the last one read (it cannot tell).
        """
        root = rest.root(request.base_url)
        headers = rest.bearer(request.token)
        user_id = _user_id(get_json(f"{root}/2/users/me", headers))
        earliest = since - CLOCK_SKEW
        url = (
            f"{root}/2/users/{user_id}/tweets?max_results={LOOKUP_LIMIT}"
            f"&tweet.fields={LOOKUP_FIELDS}&start_time={earliest.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )
        found: list[Published] = []
        page_url = url
        for _ in range(LOOKUP_PAGES):
            posts, next_token = _page(get_json(page_url, headers))
            found += [
                published
                for post in posts
                if isinstance(post, Mapping) and _matches(post, request.text, earliest)
                for published in [_published(post)]
                if published is not None
            ]
            if next_token is None or _reaches_before(posts, earliest):
                return found[::-1]  # X lists newest first
            page_url = f"{url}&pagination_token={quote(next_token, safe='')}"
        raise LookupFailed(f"more than {LOOKUP_PAGES} pages of posts since the first attempt")


def posted_text(post: Mapping[str, Any]) -> str | None:
    """The text the author sent for ``post`` as X returns it: HTML entities unescaped, each
    t.co link replaced by the link it wraps, links X appended for media dropped; None when
    the post has no text."""
    text = post.get("text")
    if not isinstance(text, str):
        return None
    expansions, appended = _links(post.get("entities"))
    text = html.unescape(text)  # t.co links hold no entity, so this order is safe
    for link in appended:
        text = re.sub(r"\s?" + re.escape(link), "", text)
    if not expansions:
        return text
    # One pass, longest first: an expanded link is never expanded again.
    pattern = re.compile("|".join(re.escape(k) for k in sorted(expansions, key=len, reverse=True)))
    return pattern.sub(lambda found: expansions[found.group()], text)


def _links(entities: object) -> tuple[dict[str, str], list[str]]:
    """The t.co links of ``entities.urls``: those to expand (-> the original link), and
    those X appended for attached media."""
    urls = entities.get("urls") if isinstance(entities, Mapping) else None
    expansions: dict[str, str] = {}
    appended: list[str] = []
    for item in urls if isinstance(urls, list) else ():
        short = item.get("url") if isinstance(item, Mapping) else None
        if not isinstance(short, str) or not short:
            continue
        if item.get("media_key") is not None:
            appended.append(short)
        elif isinstance(item.get("expanded_url"), str):
            expansions[short] = item["expanded_url"]
    return expansions, appended


def _user_id(me: Any) -> str:
    user = me.get("data") if isinstance(me, Mapping) else None
    if not isinstance(user, Mapping) or user.get("id") is None:
        raise LookupFailed("users/me answered without a user id")
    return str(user["id"])


def _page(timeline: Any) -> tuple[list[Any], str | None]:
    """A timeline page's posts (X leaves out "data" when there is none) and its
    ``next_token``; raises ``LookupFailed`` when the page has the wrong shape."""
    if not isinstance(timeline, Mapping):
        raise LookupFailed("the timeline is not a JSON object")
    posts = timeline.get("data", [])
    if not isinstance(posts, list):
        raise LookupFailed("the timeline's data is not a list")
    meta = timeline.get("meta")
    token = meta.get("next_token") if isinstance(meta, Mapping) else None
    return posts, token if isinstance(token, str) and token else None


def _reaches_before(posts: list[Any], earliest: datetime) -> bool:
    """Whether the page's oldest post is older than ``earliest`` (the rest are older)."""
    oldest = posts[-1] if posts else None
    created = rest.parse_time(oldest.get("created_at")) if isinstance(oldest, Mapping) else None
    return created is not None and created < earliest


def _read_problem(body: Mapping[str, Any]) -> tuple[list[str], list[int | str]]:
    messages = [body[key] for key in ("title", "detail") if isinstance(body.get(key), str)]
    codes: list[int | str] = []
    problem_type = body.get("type")
    if isinstance(problem_type, str) and problem_type != _BLANK_TYPE:
        codes.append(problem_type)
    errors = body.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, Mapping):
            continue
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            codes.append(code)
        text = error.get("message") or error.get("detail")
        if isinstance(text, str) and text not in messages:
            messages.append(text)
    return messages, codes


def _matches(post: Mapping[str, Any], text: str, earliest: datetime) -> bool:
    if "created_at" in post:
        created = rest.parse_time(post["created_at"])
        if created is None or created < earliest:
            return False
    return posted_text(post) == text


def _published(post: Mapping[str, Any]) -> Published | None:
    post_id = post.get("id")
    if post_id is None or post_id == "":
        return None
    return Published(external_id=str(post_id), external_url=f"https://x.com/i/web/status/{post_id}")
