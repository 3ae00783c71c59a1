"""The database schema: accounts, credentials, posts and what happens to them.

The post row is the source of truth for the engine; a broker message carries only its id.
Times are stored in UTC and always come back timezone-aware (``UTCDateTime``).
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# BIGINT keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")
# The largest id (BIGINT): a larger number names no row and overflows a query's parameter.
MAX_ID = 2**63 - 1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC (naive on SQLite, timestamptz on PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Backoff(enum.StrEnum):
    """A credential's retry policy (``credentials.backoff``); the delays are engine.backoff's."""

    EXPONENTIAL = "exponential"  # doubles each attempt, with equal jitter (the default)
    LINEAR = "linear"  # base * attempt, no jitter
    CONSTANT = "constant"  # always base


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    billing_status: Mapped[str] = mapped_column(String(20), default="active")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Default lateness limit (s) of the account's posts; None: the setting's default.
    max_lateness: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The longest DID (https://atproto.com/specs/did: at most 2 KB); a handle is at most 253.
DID_LENGTH = 2048


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str] = mapped_column(String(2000))
    token_encrypted: Mapped[str] = mapped_column(Text)  # Fernet token, never the plain text
    invalid_since: Mapped[datetime | None] = mapped_column(default=None)
    last_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    rate_limited_until: Mapped[datetime | None] = mapped_column(default=None)
    backoff: Mapped[str] = mapped_column(String(20), default=Backoff.EXPONENTIAL.value)
    retry_base: Mapped[float | None] = mapped_column(Float, default=None)
    # Calls in flight at once on this credential; None: PUBLISHER_CREDENTIAL_CONCURRENCY.
    max_in_flight: Mapped[int | None] = mapped_column(Integer, default=None)
    # The longest text a post may have, as the network counts it; None: the provider's
    # default (a Mastodon instance may allow more than 500: its max_characters).
    max_text_length: Mapped[int | None] = mapped_column(Integer, default=None)
    # The credential's kill switch: set, nothing of it is published (who, when).
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_by: Mapped[str | None] = mapped_column(String(200), default=None)
    # OAuth 2.0 (engine/refresh.py): the refresh token and client secret are Fernet
    # tokens like token_encrypted; expires_at is the access token's expiry (None: unknown).
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    token_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    client_id: Mapped[str | None] = mapped_column(String(500), default=None)
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)  # the last refresh's
    # The refresh lease (single flight): who refreshes now, and until when; with no owner,
    # the earliest time the sweep tries again after a failed refresh.
    refresh_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    refresh_until: Mapped[datetime | None] = mapped_column(default=None)
    # A login (Bluesky: createSession with a handle or DID and an app password): the
    # identifier, the password (Fernet, like the token) to log in again when the refresh
    # token is refused, and the account's DID as the login answered it.
    identifier: Mapped[str | None] = mapped_column(String(DID_LENGTH), default=None)
    app_password_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    did: Mapped[str | None] = mapped_column(String(DID_LENGTH), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PostGroup(Base):
    """Posts created in one call, one per credential, approved and cancelled as one; each
    member keeps its own state machine (``posts.group_id``)."""

    __tablename__ = "post_groups"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # The main app's key: a retried create returns this group (None: no retry protection).
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# A provider's id of a post or part: a Bluesky part's carries its record's and its
# thread root's at-URI and CID (``providers.bluesky_record``), well over 200 characters.
EXTERNAL_ID_LENGTH = 1000

DUE_WHERE = "state IN ('approved', 'retry')"
RUNNING_WHERE = "state = 'running'"


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        # The sweep's lookup: partial, so millions of finished rows never enter it; keyed
        # by (next_run_at, id), the order the sweep walks it in (engine/due.py).
        Index(
            "ix_posts_due",
            "next_run_at",
            "id",
            sqlite_where=text(DUE_WHERE),
            postgresql_where=text(DUE_WHERE),
        ),
        # The rescue of expired leases.
        Index(
            "ix_posts_lease",
            "lease_expires_at",
            sqlite_where=text(RUNNING_WHERE),
            postgresql_where=text(RUNNING_WHERE),
        ),
        Index("ix_posts_state_next_run_at", "state", "next_run_at"),
        Index("ix_posts_account_state", "account_id", "state"),
        # A remote post belongs to one of our posts at most: two reconciliations racing
        # for one remote post cannot both take it.
        Index("ux_posts_credential_external_id", "credential_id", "external_id", unique=True),
        # One post per occurrence of a series: the next occurrence is never created twice.
        Index("ux_posts_series_occurrence", "series_id", "occurrence", unique=True),
        # The dashboard's lateness chart reads the posts published in a window.
        Index("ix_posts_published_at", "published_at"),
        # A credential's posts (the foreign key's lookups), by state and newest first: the
        # dashboard counts and pages them from the index alone.
        Index("ix_posts_credential_state", "credential_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credential_id: Mapped[int] = mapped_column(ForeignKey("credentials.id"))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int | None] = mapped_column(Integer, default=None)
    idempotency_key: Mapped[str] = mapped_column(
        String(64), unique=True, default=new_idempotency_key
    )
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    first_started_at: Mapped[datetime | None] = mapped_column(default=None)
    # An earlier attempt may have created the post: look it up before any new call. Set
    # until the post is done, whatever moves it makes in between.
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    # Since when lookups could not tell whether the post exists (bounded: PUBLISHER_
    # RECONCILE_TIMEOUT, then back to draft as "unconfirmed").
    unconfirmed_since: Mapped[datetime | None] = mapped_column(default=None)
    # How often the sweep took the post back from a worker whose lease expired.
    rescues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LENGTH), default=None)
    external_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error_category: Mapped[str | None] = mapped_column(String(40), default=None)
    last_error_message: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    recurrence: Mapped[str | None] = mapped_column(String(200), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    series_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    # A series ends after this time or this many occurrences (None: never); this post is
    # occurrence number ``occurrence`` (1-based) of its series.
    recurrence_until: Mapped[datetime | None] = mapped_column(default=None)
    recurrence_count: Mapped[int | None] = mapped_column(Integer, default=None)
    occurrence: Mapped[int | None] = mapped_column(Integer, default=None)
    # Not published when claimed more than this many seconds after its time (None: the
    # account's, else PUBLISHER_MAX_LATENESS, else no limit).
    max_lateness: Mapped[float | None] = mapped_column(Float, default=None)
    # The group this post was created in (None: created alone).
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("post_groups.id"), default=None, index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)  # fencing token
    # A thread or a post with media: every part in order, each {"text", "media": [{"id",
    # "type", "alt"}]} (``text`` above is part 1's); None: one part, ``text``, no media.
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostStep(Base):
    """One confirmed step of a multi-step publish (a media upload, a part created): what
    the provider answered, kept so a later attempt resumes after it and never repeats it.
    """

    __tablename__ = "post_steps"
    __table_args__ = (Index("ux_post_steps_post_key", "post_id", "key", unique=True),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    key: Mapped[str] = mapped_column(String(40))  # "p2" part 3 created, "p1.m0" its media
    # The provider's id (post, media).
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH))
    external_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    ready: Mapped[bool] = mapped_column(Boolean, default=True)  # False: media processing
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PostEvent(Base):
    __tablename__ = "post_events"
    # The dashboard's retries chart reads the events of a window.
    __table_args__ = (Index("ix_post_events_at", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiCall(Base):
    __tablename__ = "api_calls"
    # The dashboard's publishes and durations charts read the calls of a window.
    __table_args__ = (Index("ix_api_calls_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(String(2000))
    request_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_body: Mapped[str | None] = mapped_column(Text, default=None)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float | None] = mapped_column(Float, default=None)
    category: Mapped[str] = mapped_column(String(40), default="in_flight")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # The step of a multi-step publish this call made ("p1.m0" upload, "p1" part 2...);
    # None: a one-step publish.
    step: Mapped[str | None] = mapped_column(String(40), default=None)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index(
            "ix_notifications_undelivered",
            "id",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # Indexed: a post's page lists its notifications.
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), default=None, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_delivery_at: Mapped[datetime | None] = mapped_column(default=None)


class Control(Base):
    """Operator switches and engine facts (the kill switch, the sweep heartbeat)."""

    __tablename__ = "control"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Media(Base):
    """A media file a post may carry: uploaded (its bytes in the blob store under
    ``blob_key``) or an https ``url`` fetched at publish time (``kind``, ``content_type``,
    ``size`` and ``sha256`` unknown until then)."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), default=None, index=True
    )
    kind: Mapped[str | None] = mapped_column(String(10), default=None)  # image, gif, video
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)  # bytes
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    alt: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10))  # upload or url
    url: Mapped[str | None] = mapped_column(String(2000), default=None)
    blob_key: Mapped[str | None] = mapped_column(String(200), default=None)
    filename: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DashboardAction(Base):
    """An action taken in the dashboard (the audit log): who (a key's fingerprint, never
    the key), what, on how many posts, when."""

    __tablename__ = "dashboard_actions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)  # newest first: keyset by id
    who: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    posts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# The tables, for Core statements built once at import (the worker's hot path).
ACCOUNTS, CREDENTIALS, POSTS = _table(Account), _table(Credential), _table(Post)
POST_EVENTS, API_CALLS = _table(PostEvent), _table(ApiCall)
NOTIFICATIONS, CONTROL = _table(Notification), _table(Control)
POST_STEPS, MEDIA = _table(PostStep), _table(Media)

# Kept by migration 0014 outside this metadata (no model can declare them): SQLite's FTS5
# table over posts.text (with its shadow tables, posts_fts_*) and PostgreSQL's trigram
# index, both for the dashboard's text search (core/dashboard/text_search.py).
TEXT_SEARCH_TABLE = "posts_fts"
TEXT_SEARCH_INDEX = "ix_posts_text_trgm"


def declared(name: str | None, type_: str, _parents: Any = None) -> bool:
    """Whether schema object ``name`` is declared here, for Alembic's comparison of this
    metadata with a database (``include_name``): all but the text search's."""
    if type_ == "table" and name is not None:
        return name != TEXT_SEARCH_TABLE and not name.startswith(TEXT_SEARCH_TABLE + "_")
    return not (type_ == "index" and name == TEXT_SEARCH_INDEX)
