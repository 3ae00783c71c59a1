"""The seam between the engine and a third-party API.

A provider turns a post into one HTTP request, reads a success, and names each error by
its category through an error table that is plain data. The engine does the HTTP call,
timing, logging and the decision (``worker``/``classify``); providers never touch the
database.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from publisher.providers.media_rule import MediaRule
from publisher.providers.text.rule import TextRule


class Category(enum.StrEnum):
    SUCCESS = "success"  # the provider created the post
    UNAVAILABLE = "unavailable"  # transient: retry with backoff
    UNAUTHORIZED = "unauthorized"  # the token is invalid: cancel, ask to re-authorize
    FORBIDDEN = "forbidden"  # the provider refuses this post: cancel, notify
    DUPLICATE = "duplicate"  # the provider already has it (success after an ambiguous try)
    UNCLASSIFIED = "unclassified"  # unknown: report to Sentry, then retry like unavailable


@dataclass(frozen=True)
class ErrorRule:
    """One row of a provider's error table.

    Matches when every given field matches: the HTTP ``status``, the provider's error
    ``code`` (X's classic codes), and ``text`` found (case-insensitively) in the error
    message. ``None`` matches anything. The first matching row wins.
    """

    category: Category
    status: int | None = None
    code: int | str | None = None
    text: str | None = None


@dataclass(frozen=True)
class PublishRequest:
    """What a provider needs to publish one post, or one part of a thread."""

    base_url: str
    token: str
    text: str
    options: Mapping[str, Any]
    idempotency_key: str
    reply_to: str | None = None  # the previous part's id at the provider (a thread's part)
    media_ids: Sequence[str] = ()  # the part's media, uploaded to the provider by steps
    # The part's media as publisher holds it ({"id", "type", "alt", "url"?}): for a
    # provider that takes media by reference (a webhook, with "url"), or one that takes
    # the alt text of uploaded media on the post (LinkedIn; in media_ids' order).
    media: Sequence[Mapping[str, Any]] = ()
    part: int = 0  # 0-based place in the thread
    parts: int = 1  # how many parts the post has
    # The part's files themselves, for a provider whose create carries them
    # (``CarriesFiles``); loaded by the engine just before the call, in ``media``'s order.
    files: Sequence[MediaFile] = ()
    container_id: str | None = None  # the part's confirmed container (``MakesContainers``)
    # The part's mentions the network knows, handle -> account id (``ResolvesMentions``);
    # resolved by the engine just before the call
    mentions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedCall:
    """One HTTP request, ready to send (``json`` body or raw ``data`` bytes)."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Any = None
    data: bytes | None = None


@dataclass(frozen=True)
class Published:
    external_id: str
    external_url: str | None = None


@dataclass(frozen=True)
class ProviderError:
    """What a provider read out of an error response."""

    message: str
    codes: Sequence[int | str] = field(default_factory=tuple)
    # The post a duplicate error names as the one already there (LinkedIn's DUPLICATE_POST
    # says which); None when the provider does not say.
    existing: Published | None = None
    # Seconds to wait before retrying, when the provider says so in the body rather than
    # a header (Telegram's and Discord's ``retry_after``); honoured like ``Retry-After``.
    retry_after: float | None = None


@dataclass(frozen=True)
class MediaFile:
    """One media file's bytes, ready to upload."""

    content: bytes
    content_type: str  # sniffed from the bytes, never the client's word
    filename: str
    kind: str  # "image", "gif" or "video"
    alt: str | None


@dataclass(frozen=True)
class Uploaded:
    """A provider's answer about an uploaded media file."""

    media_id: str
    ready: bool  # False: the provider is still processing it; poll before using it
    wait: float | None = None  # seconds the provider asks to wait before the next poll
    failed: str | None = None  # processing failed for good: why


class MediaUploader(Protocol):
    """How a provider takes media: an upload per file, then polls until it is processed.

    Every method is pure: it builds a request or reads an answer; the engine calls.
    """

    def describes(self, kind: str) -> bool:
        """Whether a file of ``kind`` gets its alt text by a request of its own after the
        upload (``prepare_describe``)."""
        ...

    def prepare_upload(self, base_url: str, token: str, file: MediaFile) -> PreparedCall:
        """The request uploading ``file`` (with its alt text where the upload takes it),
        or the first of a chunked upload's requests."""
        ...

    def continue_upload(
        self, base_url: str, token: str, file: MediaFile, media_id: str
    ) -> Iterable[PreparedCall]:
        """The requests that complete the upload the first one started as ``media_id``
        (a chunked upload's chunks, then its end), in order; none for a one-request upload.
        Only the last answer is read (``parse_upload``); the others need only succeed."""
        ...

    def parse_upload(self, status: int, body: Any) -> Uploaded | None:
        """The media id from a 2xx answer to the upload; None when it has none."""
        ...

    def prepare_describe(self, base_url: str, token: str, media_id: str, alt: str) -> PreparedCall:
        """The request setting ``media_id``'s alt text (for the kinds it ``describes``)."""
        ...

    def prepare_poll(self, base_url: str, token: str, media_id: str) -> PreparedCall:
        """The request asking whether ``media_id`` is processed."""
        ...

    def parse_poll(self, status: int, body: Any, media_id: str) -> Uploaded | None:
        """The processing state from a 2xx answer to the poll; None when unreadable."""
        ...


GetJson = Callable[[str, Mapping[str, str]], Any]
"""``get_json(url, headers)``: one GET to the provider, its JSON body parsed.

The engine supplies it: it renews the post's lease first, bounds the request's total
time and the answer's size, and logs it. It raises ``errors.LookupFailed`` when no 2xx
JSON answer came back.
"""


class Provider(Protocol):
    name: str

    @property
    def text_rule(self) -> TextRule:
        """How the network measures a post's text and the most it allows
        (``providers.text``)."""
        ...

    error_table: Sequence[ErrorRule]
    # How long a repeated Idempotency-Key returns the first post instead of a second one;
    # None: the provider honours no key, so only a lookup can make a re-send safe.
    idempotency_window: timedelta | None
    # Whether ``lookup`` can tell if a post exists (False: it always raises LookupFailed).
    can_lookup: bool
    # The media one post may carry there (count, kinds, sizes, alt text).
    media_rule: MediaRule
    # How media reach the provider: uploaded first, by steps (None: the create request
    # carries them, e.g. as URLs, or the provider takes none).
    uploader: MediaUploader | None
    # Whether a post may be a thread (its later parts answer the one before); False: the
    # network has none, and a post of several parts is refused when it is created.
    threads: bool

    def prepare(self, request: PublishRequest) -> PreparedCall:
        """The HTTP request that publishes ``request`` (sends its idempotency key if honoured)."""
        ...

    def parse_success(
        self, status: int, body: Any, request: PublishRequest | None = None
    ) -> Published | None:
        """The created post's id and URL from a 2xx ``body`` (parsed JSON), or None."""
        ...

    def parse_error(self, status: int, body: Any) -> ProviderError:
        """The message and error codes of a non-2xx response (``body`` JSON or text)."""
        ...

    def lookup(
        self, get_json: GetJson, request: PublishRequest, since: datetime
    ) -> Sequence[Published]:
        """Every post at the provider that ``request`` may have created at or after
        ``since``, oldest first (reconciliation after an ambiguous attempt).

        Empty means the provider says there is none. Raises ``errors.LookupFailed``
        when it cannot tell (a failed call, an unreadable answer, no way to look).
        """
        ...


class ContainerState(enum.StrEnum):
    """Where a container (``MakesContainers``) stands at the provider."""

    PROCESSING = "processing"  # not ready yet: ask again later
    READY = "ready"  # ready and not published: publishing it is safe
    PUBLISHED = "published"  # published: the post exists
    FAILED = "failed"  # processing or publishing failed: nothing was published
    EXPIRED = "expired"  # never published in time: nothing was published


@dataclass(frozen=True)
class Contained:
    """A container's state as the provider reports it."""

    container_id: str
    state: ContainerState
    error: str | None = None  # why a FAILED container failed, as the provider says


@runtime_checkable
class MakesContainers(Protocol):
    """A provider that publishes each part in two steps (Meta Threads): a container is made
    first (nothing visible), then published; the container's state tells whether a
    publish whose answer was lost landed. The engine then puts a container step before
    each part's create (``engine.container_steps``) and passes the confirmed container in
    ``PublishRequest.container_id`` to ``prepare``. Every method is pure."""

    def prepare_container(self, request: PublishRequest) -> PreparedCall:
        """The request making ``request``'s part a container."""
        ...

    def parse_container(self, status: int, body: Any) -> str | None:
        """The container id from a 2xx answer to ``prepare_container``; None if absent."""
        ...

    def prepare_status(self, base_url: str, token: str, container_id: str) -> PreparedCall:
        """The request asking the container's state."""
        ...

    def parse_status(self, status: int, body: Any) -> Contained | None:
        """The container's state from a 2xx answer; None when unreadable."""
        ...


@runtime_checkable
class ReadsCreatedHeaders(Protocol):
    """A provider whose create answer names the new post in a response header rather
    than the body (LinkedIn's ``x-restli-id``); the engine then asks it, not
    ``parse_success``."""

    def parse_created(
        self,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        request: PublishRequest | None = None,
    ) -> Published | None:
        """The created post's id and URL from a 2xx answer's headers (and body), or None."""
        ...


@runtime_checkable
class CarriesFiles(Protocol):
    """A provider whose create request carries the media files themselves (multipart:
    Telegram's ``sendPhoto``/``sendMediaGroup``, Discord's Execute Webhook) instead of
    naming uploads (``uploader``) or URLs: the engine fills ``PublishRequest.files``."""

    carries_files: bool


@runtime_checkable
class ResolvesMentions(Protocol):
    """A provider whose mentions name accounts by an id the text does not hold (Bluesky's
    ``#mention`` facets carry a DID): the engine asks it for the text's handles, resolves
    each with one GET just before the create (``resolve_url``, ``parse_resolved``) and
    hands the ones found in ``PublishRequest.mentions``; the rest stay plain text."""

    def mentioned(self, text: str) -> Sequence[str]:
        """The handles ``text`` mentions, each once, in order."""
        ...

    def resolve_url(self, base_url: str, handle: str) -> str:
        """The URL that resolves ``handle`` to the account's id."""
        ...

    def parse_resolved(self, body: Any) -> str | None:
        """The account id in a resolve answer, or None when it names none."""
        ...


@runtime_checkable
class ChecksDestination(Protocol):
    """A provider whose ``base_url`` names more than a server (Telegram's chat, Discord's
    webhook): checked when the credential is created, so a wrong one is a 422 then
    rather than a refusal at the first publish."""

    def destination_problem(self, base_url: str, allow_private: bool) -> str | None:
        """Why ``base_url`` cannot be this provider's destination, or None;
        ``allow_private``: a local server (a self-hosted Bot API, the sandbox) may be
        plain http on any host."""
        ...


def match_rule(table: Sequence[ErrorRule], status: int, error: ProviderError) -> Category | None:
    """The category of the first row of ``table`` matching this error, or None."""
    message = error.message.lower()
    for rule in table:
        if rule.status is not None and rule.status != status:
            continue
        if rule.code is not None and rule.code not in error.codes:
            continue
        if rule.text is not None and rule.text.lower() not in message:
            continue
        return rule.category
    return None
