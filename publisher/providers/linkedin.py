"""LinkedIn: publish a post through the versioned Posts API (``POST /rest/posts``).

Create: ``POST {root}/rest/posts`` with the headers ``LinkedIn-Version: YYYYMM`` and
``X-Restli-Protocol-Version: 2.0.0`` and a JSON body (``author``, ``commentary``,
``visibility``, ``distribution``, ``lifecycleState: PUBLISHED``); LinkedIn answers 201
with an empty body and the new post's URN in the ``x-restli-id`` header (so this provider
reads headers: ``base.ReadsCreatedHeaders``). ``commentary`` is "little text": the
characters ``| { } @ [ ] ( ) < > # \\ * _ ~`` are markup and must be escaped with a
backslash to be shown as typed. One image goes in ``content.media.id``, two to twenty in
``content.multiImage.images``. Sources:
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api,
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/little-text-format,
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/multiimage-post-api.

The author: the Posts API needs the URN of the member or organization posting
(``urn:li:person:...``, ``urn:li:organization:...``), and an image upload names it as its
``owner``. Until credentials carry a field of their own for it, the account's
``base_url`` names it in its fragment (``https://api.linkedin.com#urn:li:person:abc``);
a fragment never goes on the wire.

Errors (https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling):
a JSON body with ``status``, ``message``, often ``code`` (``EXPIRED_ACCESS_TOKEN``,
``REVOKED_ACCESS_TOKEN``, ``INVALID_ACCESS_TOKEN``, ``ACCESS_DENIED``...) and
``serviceErrorCode``, and for validation ``errorDetails.inputErrors[].code``. 401 means
the token is expired or revoked (re-authorize, after one refresh); 403 a missing
permission (``w_member_social`` / ``w_organization_social``): the post is refused. A
second post with the same content answers 422 ``DUPLICATE_POST``, its message naming the
existing post ("Content is a duplicate of urn:li:share:..."): after an ambiguous attempt
that URN is our post. A retired ``LinkedIn-Version`` answers 426: every post would fail
alike, so it is reported (unclassified: Sentry) and retried only up to the post's
attempts, then back to draft; an operator must move ``linkedin_api.API_VERSION`` on
(https://learn.microsoft.com/en-us/linkedin/marketing/versioning).

Rate limits (https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits):
per member and per application per day, reset at midnight UTC; a 429 comes without
``Retry-After`` or reset headers, so the engine's backoff spaces the retries and the 429
holds the credential's other posts.

Refresh: LinkedIn's programmatic refresh tokens (approved Marketing Developer Platform
partners only) are RFC 6749 §6: ``POST https://www.linkedin.com/oauth/v2/accessToken``
with ``grant_type=refresh_token``, so ``oauth2.OAuth2Refresher`` serves, the token URL
by default being that one (``oauth2.DEFAULT_TOKEN_URLS``). Access tokens live 60 days,
a refresh token 365 days from the first authorization, not renewed by a refresh
(https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens).
LinkedIn's pages show the client's id and secret as form fields; the refresher sends a
confidential client's as HTTP Basic (RFC 6749 §2.3.1): unverified against LinkedIn.

Lookup after an ambiguous attempt: ``GET /rest/posts?q=author&author={urn}`` (newest
first, ``X-RestLi-Method: FINDER``) lists the author's posts; it needs the read
permission (``r_member_social``, restricted, or ``r_organization_social``). Without it
the call fails, the lookup cannot tell, and the engine waits and asks again until
``PUBLISHER_RECONCILE_TIMEOUT``, then returns the post to draft as ``unconfirmed``;
if a re-send happens (the lookup said "none"), LinkedIn's ``DUPLICATE_POST`` still names
the original. Threads: LinkedIn has none; only one-part posts are supported for now.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from publisher.errors import LookupFailed
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
from publisher.providers.linkedin_api import headers, split_base
from publisher.providers.linkedin_media import MEDIA_RULE
from publisher.providers.linkedin_media import UPLOADER as LINKEDIN_UPLOADER
from publisher.providers.media_rule import MediaRule
from publisher.providers.text.rule import TextRule

# The Posts API's ``commentary`` takes at most 3,000 characters.
TEXT_LIMIT = 3_000

# Little-text markup characters: escaped so the text shows as typed.
_LITTLE_TEXT = re.compile(r"([|{}@\[\]()<>#\\*_~])")
# A post URN as LinkedIn names one (x-restli-id, DUPLICATE_POST's message).
_POST_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")

# A post's createdAt may be a little before our own clock's ``since``.
CLOCK_SKEW = timedelta(minutes=5)
LOOKUP_LIMIT = 50  # posts read in one lookup; a post we just sent is among the newest

MAX_MESSAGE = 500  # characters of an error body kept

# First matching row wins: LinkedIn's codes, then plain statuses.
ERROR_TABLE: Sequence[ErrorRule] = (
    ErrorRule(Category.DUPLICATE, code="DUPLICATE_POST"),  # names the existing post
    ErrorRule(Category.UNAUTHORIZED, code="EXPIRED_ACCESS_TOKEN"),  # refresh, else re-auth
    ErrorRule(Category.UNAUTHORIZED, code="REVOKED_ACCESS_TOKEN"),  # the member revoked it
    ErrorRule(Category.UNAUTHORIZED, code="INVALID_ACCESS_TOKEN"),
    ErrorRule(Category.FORBIDDEN, code="ACCESS_DENIED"),  # the token lacks the permission
    ErrorRule(Category.UNAUTHORIZED, status=401),  # expired or revoked
    ErrorRule(Category.FORBIDDEN, status=403),  # missing permission (scope, page role)
    ErrorRule(Category.FORBIDDEN, status=400),  # the request is invalid as it is
    ErrorRule(Category.FORBIDDEN, status=413),  # an upload too large
    ErrorRule(Category.FORBIDDEN, status=422),  # validation failed (other than duplicate)
    ErrorRule(Category.UNCLASSIFIED, status=426),  # retired API_VERSION: alert, bounded
    ErrorRule(Category.UNAVAILABLE, status=429),  # daily limit; no Retry-After
    ErrorRule(Category.UNAVAILABLE, status=500),
    ErrorRule(Category.UNAVAILABLE, status=502),
    ErrorRule(Category.UNAVAILABLE, status=503),
    ErrorRule(Category.UNAVAILABLE, status=504),
)


def escaped_length(text: str, options: Mapping[str, Any]) -> int:
    """The length of ``text`` as sent: code points once little-text escaped."""
    return len(escape(text))


TEXT_RULE = TextRule(
    measure=escaped_length,
    limit=TEXT_LIMIT,
    counted="code points, each little-text markup character counted twice (escaped)",
)


class LinkedInProvider:
    """Publishes as one LinkedIn member or organization; stateless, thread-safe."""

    name: str = "linkedin"
    error_table: Sequence[ErrorRule] = ERROR_TABLE
    idempotency_window: timedelta | None = None  # no key; DUPLICATE_POST backs a lookup
    can_lookup: bool = True  # with the read permission; else the lookup fails, unconfirmed
    media_rule: MediaRule = MEDIA_RULE  # images only, up to twenty
    uploader: MediaUploader | None = LINKEDIN_UPLOADER  # initializeUpload, PUT, status
    threads: bool = False  # LinkedIn has no threads: a post of parts is refused

    @property
    def text_rule(self) -> TextRule:
        """Code points of the escaped ``commentary``, at most 3,000: the limit applies
        to what is sent, so each markup character counts twice."""
        return TEXT_RULE

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """``POST /rest/posts``, published to the main feed, public unless the post's
        ``visibility`` option says ``CONNECTIONS``."""
        root, author = split_base(request.base_url)
        visibility = request.options.get("visibility")
        body: dict[str, Any] = {
            "author": author,
            "commentary": escape(request.text),
            "visibility": visibility if visibility in ("PUBLIC", "CONNECTIONS") else "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        images = _images(request)
        if len(images) == 1:
            body["content"] = {"media": images[0]}
        elif images:
            body["content"] = {"multiImage": {"images": images}}
        return PreparedCall(
            method="POST", url=f"{root}/rest/posts", headers=headers(request.token), json=body
        )

    def parse_created(
        self,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        request: PublishRequest | None = None,
    ) -> Published | None:
        """The URN in ``x-restli-id`` (else an ``id`` in the body); None without one."""
        if not 200 <= status < 300:
            return None
        lowered = {str(name).lower(): value for name, value in headers.items()}
        urn = lowered.get("x-restli-id")
        if not urn and isinstance(body, Mapping):
            urn = body.get("id")
        return published(urn) if isinstance(urn, str) else None

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """An ``id`` in the body (the engine asks ``parse_created``, which sees the header)."""
        return self.parse_created(status, {}, body, request)

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """``message`` and every ``code`` (top level and ``inputErrors``) and
        ``serviceErrorCode``; a ``DUPLICATE_POST`` names the existing post."""
        if isinstance(body, Mapping):
            message = str(body.get("message") or f"HTTP {status}")
            codes = _codes(body)
        elif isinstance(body, str | bytes) and body.strip():
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            message, codes = text.strip(), []
        else:
            message, codes = f"HTTP {status}", []
        existing = None
        if "DUPLICATE_POST" in codes:
            found = _POST_URN.search(message)
            existing = published(found.group()) if found else None
        return ProviderError(message=message[:MAX_MESSAGE], codes=tuple(codes), existing=existing)

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> list[Published]:
        """The author's posts whose commentary is the post's (escaped) text, created at or
        after ``since`` less ``CLOCK_SKEW``, oldest first. Raises ``LookupFailed`` when the
        call fails (no read permission included) or the answer has the wrong shape, or
        when a full page is still newer than that (it cannot tell)."""
        root, author = split_base(request.base_url)
        url = (
            f"{root}/rest/posts?q=author&author={quote(author, safe='')}"
            f"&count={LOOKUP_LIMIT}&sortBy=CREATED"
        )
        page = get_json(url, {**headers(request.token), "X-RestLi-Method": "FINDER"})
        elements = page.get("elements") if isinstance(page, Mapping) else None
        if not isinstance(elements, list):
            raise LookupFailed("the author's posts are not a list of elements")
        earliest = since - CLOCK_SKEW
        expected = escape(request.text)
        found = [
            post
            for item in elements
            if isinstance(item, Mapping) and _matches(item, expected, earliest)
            for post in [published(item.get("id"))]
            if post is not None
        ]
        if len(elements) >= LOOKUP_LIMIT and not _reaches_before(elements, earliest):
            raise LookupFailed(f"more than {LOOKUP_LIMIT} posts since the first attempt")
        return found[::-1]  # LinkedIn lists newest first


def escape(text: str) -> str:
    """``text`` with every little-text markup character escaped, shown as typed."""
    return _LITTLE_TEXT.sub(r"\\\1", text)


def published(urn: object) -> Published | None:
    """A post URN as ``Published`` with its feed URL; None for anything else."""
    if not isinstance(urn, str) or not urn.startswith("urn:li:"):
        return None
    return Published(external_id=urn, external_url=f"https://www.linkedin.com/feed/update/{urn}/")


def _images(request: PublishRequest) -> list[dict[str, str]]:
    """Each uploaded image's URN with its alt text (``altText``) when it has one."""
    alts = [item.get("alt") for item in request.media]
    images = []
    for index, media_id in enumerate(request.media_ids):
        alt = alts[index] if index < len(alts) else None
        images.append(
            {"id": media_id, "altText": alt} if isinstance(alt, str) and alt else {"id": media_id}
        )
    return images


def _codes(body: Mapping[str, Any]) -> list[int | str]:
    codes: list[int | str] = []
    if isinstance(body.get("code"), str):
        codes.append(body["code"])
    service = body.get("serviceErrorCode")
    if isinstance(service, int) and not isinstance(service, bool):
        codes.append(service)
    details = body.get("errorDetails")
    inputs = details.get("inputErrors") if isinstance(details, Mapping) else None
    for item in inputs if isinstance(inputs, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("code"), str):
            codes.append(item["code"])
    return codes


def _created(post: Mapping[str, Any]) -> datetime | None:
    """``createdAt`` (epoch milliseconds) as an aware datetime, else None."""
    value = post.get("createdAt")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _matches(post: Mapping[str, Any], expected: str, earliest: datetime) -> bool:
    created = _created(post)
    if created is None or created < earliest:
        return False
    return post.get("commentary") == expected


def _reaches_before(elements: list[Any], earliest: datetime) -> bool:
    oldest = elements[-1]
    created = _created(oldest) if isinstance(oldest, Mapping) else None
    return created is not None and created < earliest
