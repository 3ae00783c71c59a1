"""The HTTP API's request and response bodies (pydantic), and row -> body conversion.

Requests forbid unknown fields so a typo is an error, not a silently ignored setting.
Tokens appear only in request bodies; no response model has a field that could hold one.
One module per subject; this package re-exports them.
"""

from publisher.api.schemas.accounts import (
    AccountIn,
    AccountOut,
    AccountPatch,
    CredentialIn,
    CredentialOut,
    CredentialPatch,
    OAuthIn,
    TokenIn,
)
from publisher.api.schemas.common import BackoffName, Billing, ErrorOut, ProviderName, Strict
from publisher.api.schemas.outbox import (
    NotificationOut,
    NotificationPage,
    OccurrenceOut,
    SeriesOut,
)
from publisher.api.schemas.posts import (
    ApproveIn,
    CallOut,
    EventOut,
    LastError,
    MediaRef,
    PartIn,
    PartOut,
    PostIn,
    PostOut,
    PostPage,
    PostPatch,
)

__all__ = [
    "AccountIn",
    "AccountOut",
    "AccountPatch",
    "ApproveIn",
    "BackoffName",
    "Billing",
    "CallOut",
    "CredentialIn",
    "CredentialOut",
    "CredentialPatch",
    "ErrorOut",
    "EventOut",
    "LastError",
    "MediaRef",
    "NotificationOut",
    "NotificationPage",
    "OAuthIn",
    "OccurrenceOut",
    "PartIn",
    "PartOut",
    "PostIn",
    "PostOut",
    "PostPage",
    "PostPatch",
    "ProviderName",
    "SeriesOut",
    "Strict",
    "TokenIn",
]
