"""The one rooted error hierarchy.

Each class's docstring is its default message. API handlers map branches to HTTP
statuses in one place (``publisher.api.errors``); the engine never uses exceptions for
control flow (decisions are values, see ``classify``).
"""

from __future__ import annotations

from typing import Any


class PublisherError(Exception):
    """Publisher failed."""

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.message = message or (self.__doc__ or "").strip()
        self.details = details


class ConfigError(PublisherError):
    """The configuration is invalid."""


class NotFound(PublisherError):
    """The requested object does not exist."""


class InvalidInput(PublisherError):
    """The input is invalid."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.field = field


class Conflict(PublisherError):
    """The post is not in a state that allows this."""


class IllegalTransition(Conflict):
    """This transition is not allowed from the post's current state."""


class LostRace(Conflict):
    """Another process changed the post first."""


class AccessDenied(PublisherError):
    """This dashboard session may not do that."""


class NotLoggedIn(AccessDenied):
    """Log in to the dashboard first."""


class TokenError(PublisherError):
    """A credential's token cannot be decrypted with the configured keys."""


class LookupFailed(PublisherError):
    """The provider could not say whether the post exists."""


class SessionUnreadable(PublisherError):
    """The Bluesky access token does not name its account (no ``sub`` DID in its JWT)."""


class ProviderUnavailable(PublisherError):
    """The provider could not be reached or gave no usable answer; nothing was stored."""


class ProviderRateLimited(ProviderUnavailable):
    """The provider is rate limiting these calls; nothing was stored: try again later.

    ``retry_after``: seconds until the provider takes calls again, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class BlobMissing(NotFound):
    """The stored media file is missing from the blob store."""


class MediaUnavailable(PublisherError):
    """A post's media could not be loaded.

    ``transient``: trying again later may succeed (a timeout, a 503 from the media host);
    otherwise the post cannot be published as it is (a 404, too big, a refused type).
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message, transient=transient)
        self.transient = transient
