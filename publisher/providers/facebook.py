"""Facebook Pages: publish a Page post through the Graph API ``POST /me/feed``.

The credential's ``base_url`` is the versioned Graph root (``https://graph.facebook.com/
v24.0``) and its token a Page access token, for which ``/me`` is the Page itself, so no
Page id is stored. The token travels in the ``Authorization: Bearer`` header, never in the
query string (which would land in logs). The body is ``message`` (the text) and an
optional ``link``; the answer is ``{"id": "{page-id}_{post-id}"}``. Sources:
https://developers.facebook.com/documentation/pages-api/posts.md (publish with
``message``/``link``, ``pages_manage_posts``), https://developers.facebook.com/docs/
graph-api/reference/page/feed (the edge, its answer, reading ``/{page-id}/feed``).

Errors are data: the body's ``error.code`` (plus ``error_subcode``, ``is_transient``) is
what the table reads, per https://developers.facebook.com/docs/graph-api/guides/
error-handling: 1 and 2 are temporary (retry); 4, 17, 32, 341 and 613 (and the Page-level
80001) are throttling (retry later); 3, 10 and 200-299 are missing capabilities or
permissions (cancel, notify); 190 (any subcode: 458 app removed, 459/464 checkpoint, 460
password changed, 463 expired, 467 invalid) and 102 are the token (cancel, reauthorize);
368 is "temporarily blocked for policies violations": the docs say wait and retry, but such
a block lasts hours to days and posting into it risks a longer one, so publisher cancels
with a ``forbidden`` notification and lets the user re-approve; 506 is "duplicate post"
(a success after an ambiguous attempt, found by the lookup).

Rate limits: Graph answers no ``Retry-After``; it reports usage as JSON in
``X-App-Usage``/``X-Page-Usage``/``X-Business-Use-Case-Usage`` (percentages, and
``estimated_time_to_regain_access`` in minutes;
https://developers.facebook.com/docs/graph-api/overview/rate-limiting). The engine reads
them with the other providers' rate-limit headers (``engine.usage_headers``): a throttled
answer waits the time Graph estimates, and a success near 100% holds the credential.

No idempotency key exists. After an ambiguous attempt, ``lookup`` reads the Page's own
posts since the first attempt (``GET /me/posts?fields=id,message,created_time,attachments
&since=``, following ``paging.cursors.after``) and takes those whose ``message`` is
exactly ours (Graph leaves ``message`` out of a post without text). A post with photos
must also attach our first photo (its id in ``attachments``' ``target``, or a
``subattachments`` target for several: https://developers.facebook.com/docs/graph-api/
reference/story-attachment): an unpublished photo belongs to one post at most,
so that match is exact; a post with our text whose attachments cannot be read makes the
lookup fail (it cannot tell), which waits and ends ``unconfirmed``, never re-sends.

Limits: text up to 63,206 characters (Facebook's composer limit; the Graph reference
states none), counted in code points. Photos: ``facebook_media`` (uploaded unpublished
first, by steps, then attached to the post).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
from publisher.providers.facebook_media import MEDIA_RULE, UPLOADER
from publisher.providers.media_rule import MediaRule
from publisher.providers.text.rule import TextRule, code_point_rule

# Options passed through to the post body; anything else in ``options`` is ignored.
ALLOWED_OPTIONS = ("link",)

# Facebook's longest post text (its composer's limit; the Graph reference names none).
MAX_TEXT = 63_206

# Graph's created_time may be a little before our own clock's ``since``.
CLOCK_SKEW = timedelta(minutes=5)
LOOKUP_LIMIT = 100  # the page size Graph allows for a Page's posts
LOOKUP_PAGES = 5  # pages read before giving up (posts since the first attempt)
# What a lookup reads of each post: the photo ids a post attaches settle a photo post.
LOOKUP_FIELDS = "id,message,created_time,attachments{target,subattachments{target}}"

# The codes Graph documents as "200-299: API Permission (multiple values)", named as one.
PERMISSION_RANGE = range(200, 300)
PERMISSION = "permission-2xx"
TRANSIENT = "is_transient"  # the error's own "is_transient": true

# An error message can be long; the call log needs only its start.
MAX_MESSAGE = 500

# First matching row wins: Graph codes (the body's error.code), then plain statuses.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.UNAUTHORIZED, code=190),  # access token expired/invalid (any subcode)
    ErrorRule(Category.UNAUTHORIZED, code=102),  # API session: login status or token expired
    ErrorRule(Category.DUPLICATE, code=506),  # duplicate post
    ErrorRule(Category.FORBIDDEN, code=368),  # temporarily blocked for policy violations
    ErrorRule(Category.FORBIDDEN, code=3),  # API method: capability missing
    ErrorRule(Category.FORBIDDEN, code=10),  # permission denied
    ErrorRule(Category.FORBIDDEN, code=PERMISSION),  # 200-299: permission missing
    ErrorRule(Category.FORBIDDEN, code=100),  # invalid parameter: the same post fails again
    ErrorRule(Category.FORBIDDEN, code=1609005),  # error posting link: the URL is bad
    ErrorRule(Category.UNAVAILABLE, code=1),  # API unknown: possibly downtime
    ErrorRule(Category.UNAVAILABLE, code=2),  # API service: downtime
    ErrorRule(Category.UNAVAILABLE, code=4),  # app: too many calls
    ErrorRule(Category.UNAVAILABLE, code=17),  # user: too many calls
    ErrorRule(Category.UNAVAILABLE, code=32),  # Page: too many calls
    ErrorRule(Category.UNAVAILABLE, code=341),  # application limit reached
    ErrorRule(Category.UNAVAILABLE, code=613),  # calls exceed the rate limit
    ErrorRule(Category.UNAVAILABLE, code=80001),  # Page business-use-case rate limit
    ErrorRule(Category.UNAVAILABLE, code=TRANSIENT),  # any other error Graph marks transient
    ErrorRule(Category.UNAUTHORIZED, status=401),
    ErrorRule(Category.FORBIDDEN, status=403),
    ErrorRule(Category.UNAVAILABLE, status=429),
    ErrorRule(Category.UNAVAILABLE, status=500),
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)

RULE = code_point_rule(MAX_TEXT)


class FacebookProvider:
    """Publishes to one Facebook Page; stateless, safe to share between threads."""

    name: str = "facebook"
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = None  # Graph honours no idempotency key
    can_lookup: bool = True
    media_rule: MediaRule = MEDIA_RULE  # still images, uploaded unpublished first
    uploader: MediaUploader | None = UPLOADER
    threads: bool = False  # a Page post has no replies of its own; parts are refused

    @property
    def text_rule(self) -> TextRule:
        """Code points, at most ``MAX_TEXT``."""
        return RULE

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``POST /me/feed`` with ``message``, the allowed options and the uploaded photos
        (``attached_media``, in order); no idempotency key."""
        body = rest.with_options({"message": request.text}, request.options, ALLOWED_OPTIONS)
        if request.media_ids:
            body["attached_media"] = [{"media_fbid": media_id} for media_id in request.media_ids]
        return PreparedCall(
            method="POST",
            url=f"{rest.root(request.base_url)}/me/feed",
            headers=rest.bearer(request.token),
            json=body,
        )

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """The post's ``id`` (``{page-id}_{post-id}``) and its URL; None without an id."""
        if not 200 <= status < 300 or not isinstance(body, Mapping):
            return None
        return _published(body)

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """``error.message``; codes: ``error.code``, ``"code/subcode"`` when a subcode is
        given, ``PERMISSION`` for 200-299 and ``TRANSIENT`` when Graph marks it so."""
        error = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(error, Mapping):
            return ProviderError(message=rest.text_message(status, body)[:MAX_MESSAGE])
        message = error.get("message")
        text = message if isinstance(message, str) and message else f"HTTP {status}"
        return ProviderError(message=text[:MAX_MESSAGE], codes=error_codes(error))

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """The Page's posts whose ``message`` is exactly the post's text (and that attach
        its first photo, when it has photos), created at or after ``since`` less
        ``CLOCK_SKEW``, oldest first.

        Raises ``LookupFailed`` on a failed call, a page of the wrong shape, a post with
        our text whose attachments cannot be read, or more than ``LOOKUP_PAGES`` pages
        since then (it cannot tell).
        """
        earliest = since - CLOCK_SKEW
        url = (
            f"{rest.root(request.base_url)}/me/posts?fields={LOOKUP_FIELDS}"
            f"&limit={LOOKUP_LIMIT}&since={int(earliest.timestamp())}"
        )
        headers = rest.bearer(request.token)

        def ours(post: Mapping[str, Any]) -> Published | None:
            return _published(post) if _matches(post, request, earliest) else None

        return read_back(get_json, url, headers, ours)


def read_back(
    get_json: GetJson,
    url: str,
    headers: Mapping[str, str],
    ours: Callable[[Mapping[str, Any]], Published | None],
) -> list[Published]:
    """Every post ``ours`` names on the Graph list at ``url`` (newest first, followed by
    its ``after`` cursor), oldest first. Raises ``LookupFailed`` on a failed call, a page
    of the wrong shape, or more than ``LOOKUP_PAGES`` pages (it cannot tell)."""
    found: list[Published] = []
    page_url = url
    for _ in range(LOOKUP_PAGES):
        posts, after = graph_page(get_json(page_url, headers))
        found += [published for post in posts if (published := ours(post)) is not None]
        if after is None:
            return found[::-1]  # Graph lists newest first
        page_url = f"{url}&after={quote(after, safe='')}"
    raise LookupFailed(f"more than {LOOKUP_PAGES} pages of posts since the first attempt")


def error_codes(error: Mapping[str, Any]) -> tuple[int | str, ...]:
    """The codes the error table matches for a Graph ``error`` object."""
    code, subcode = error.get("code"), error.get("error_subcode")
    codes: list[int | str] = []
    if isinstance(code, int) and not isinstance(code, bool):
        codes.append(code)
        if isinstance(subcode, int) and not isinstance(subcode, bool):
            codes.append(f"{code}/{subcode}")
        if code in PERMISSION_RANGE:
            codes.append(PERMISSION)
    if error.get("is_transient") is True:
        codes.append(TRANSIENT)
    return tuple(codes)


def graph_page(answer: Any) -> tuple[list[Mapping[str, Any]], str | None]:
    """A Graph list page's posts and its ``after`` cursor when ``paging.next`` says more
    exist (Facebook's Page posts, Threads' user posts)."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("data"), list):
        raise LookupFailed("the posts are not a JSON object with a data list")
    posts = [post for post in answer["data"] if isinstance(post, Mapping)]
    paging = answer.get("paging")
    if not isinstance(paging, Mapping) or not paging.get("next"):
        return posts, None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, Mapping) else None
    if not isinstance(after, str) or not after:
        raise LookupFailed("the posts say more exist but give no cursor")
    return posts, after


def _matches(post: Mapping[str, Any], request: PublishRequest, earliest: datetime) -> bool:
    created = rest.parse_time(post.get("created_time"))
    if created is not None and created < earliest:
        return False
    if post.get("message", "") != request.text:
        return False
    if not request.media_ids:
        return True
    photos = attached_photos(post)
    if photos is None:
        raise LookupFailed("a post with this text shows no readable attachments")
    return request.media_ids[0] in photos


def attached_photos(post: Mapping[str, Any]) -> set[str] | None:
    """The ids of what ``post`` attaches (``attachments.data[].target.id`` and their
    ``subattachments``' targets); None when it lists no attachments to read."""
    attachments = post.get("attachments")
    data = attachments.get("data") if isinstance(attachments, Mapping) else None
    if not isinstance(data, list) or not data:
        return None
    found: set[str] = set()
    for item in _items(data):
        found |= _targets(item)
        nested = item.get("subattachments")
        inner = nested.get("data") if isinstance(nested, Mapping) else None
        for sub in _items(inner if isinstance(inner, list) else []):
            found |= _targets(sub)
    return found or None


def _items(data: list[Any]) -> list[Mapping[str, Any]]:
    return [item for item in data if isinstance(item, Mapping)]


def _targets(item: Mapping[str, Any]) -> set[str]:
    target = item.get("target")
    found = target.get("id") if isinstance(target, Mapping) else None
    return {str(found)} if isinstance(found, str | int) and not isinstance(found, bool) else set()


def _published(post: Mapping[str, Any]) -> Published | None:
    post_id = post.get("id")
    if not isinstance(post_id, str | int) or post_id == "":
        return None
    return Published(external_id=str(post_id), external_url=f"https://www.facebook.com/{post_id}")
