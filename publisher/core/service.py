"""The main app's Python API: accounts, credentials and posts.

Plain functions that take the SQLAlchemy session (and the clock) explicitly; the HTTP API
is a thin layer over them, so there is one implementation. Each function validates its
input (``InvalidInput`` naming the field) before it writes anything; the caller owns the
transaction, so a failure never leaves a partial write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import EllipsisType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.core import lifecycle, recurrence, series
from publisher.core.addresses import url_problem
from publisher.core.models import (
    Account,
    ApiCall,
    Backoff,
    Credential,
    Notification,
    Post,
    PostEvent,
)
from publisher.core.states import Actor, State, Trigger
from publisher.core.tokens import TokenBox
from publisher.errors import Conflict, InvalidInput, LostRace, NotFound
from publisher.providers import get_provider

BILLING_STATUSES = ("active", "past_due", "suspended")
MAX_ATTEMPTS_LIMIT = 100  # beyond this a post would retry for days: surely a mistake
PAGE_LIMIT = 500  # the largest page a listing returns
MAX_LATENESS = 366 * 86_400.0  # s: a limit beyond a year means "no limit": leave it unset
# A credential's calls in flight at once: providers limit requests per token, so more than
# this is surely a mistake (each slot is a worker busy on that one token).
MAX_IN_FLIGHT = 1000
# A credential's own text limit: above the API's default body bound (1 MB) no text could
# reach it, so a larger one is surely a mistake.
MAX_TEXT_LIMIT = 1_000_000
# A token goes in an HTTP header: visible ASCII only ("!" to "~"), so no whitespace or
# control character can break the header or make ``requests`` quote the token in an error.
TOKEN_FIRST, TOKEN_LAST = "!", "~"
# Scheduled times outside these bounds are surely mistakes; near the calendar's ends an
# offset (or the engine's date arithmetic) would leave the calendar.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
# api_calls.url holds 2,000 characters: this leaves room for the longest path and query
# a provider appends, so every call the engine makes can be logged.
BASE_URL_LIMIT = 1_000
# Characters no stored text may hold: NUL (PostgreSQL text cannot) and lone surrogates
# (not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


T = TypeVar("T")


def _get(session: Session, model: type[T], object_id: int, field: str) -> T:
    found = session.get(model, object_id)
    if found is None:
        raise NotFound(f"{field} {object_id} not found", field=field)
    return found


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(field, "must include a time zone offset, e.g. 2030-01-01T09:00:00Z")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None  # the offset takes it past year 1 or 9999
    if in_utc is None or not EARLIEST_TIME <= in_utc < LATEST_TIME:
        raise InvalidInput(
            field, f"must be between {EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d} UTC"
        )
    return value


def _storable(field: str, value: Any) -> Any:
    """``value`` when every string in it (keys and items too) can be stored and sent."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            raise InvalidInput(field, "must not contain NUL characters or lone surrogates")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _storable(field, key)
            _storable(field, item)
    elif isinstance(value, list | tuple):
        for item in value:
            _storable(field, item)
    return value


def _check_billing(status: str) -> str:
    if status not in BILLING_STATUSES:
        raise InvalidInput("billing_status", f"must be one of: {', '.join(BILLING_STATUSES)}")
    return status


def _check_text(
    text: str, options: Mapping[str, Any], provider_name: str, limit: int | None = None
) -> str:
    """``text`` if the provider's network would take it with ``options``: measured as that
    network measures it (``Provider.text_rule``), against ``limit`` (the credential's own)
    or else the network's default; the refusal names length, way and limit."""
    _storable("text", text)
    if not text.strip():
        raise InvalidInput("text", "must not be empty")
    rule = get_provider(provider_name).text_rule
    refused = rule.refusal(text)
    if refused is not None:
        raise InvalidInput("text", refused)
    allowed = rule.limit if limit is None else limit
    length = rule.measure(text, options)
    if length > allowed:
        raise InvalidInput("text", f"is {length} {rule.counted}; {provider_name} allows {allowed}")
    return text


def _check_lateness(value: float | None) -> float | None:
    if value is not None and not 0 < value <= MAX_LATENESS:
        raise InvalidInput("max_lateness", f"must be between 0 and {MAX_LATENESS:g} seconds")
    return value


def _check_max_attempts(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise InvalidInput("max_attempts", f"must be between 1 and {MAX_ATTEMPTS_LIMIT}")
    return value


def _check_token(token: str) -> str:
    """A token that can go in an HTTP header as is (a refused token is never echoed)."""
    if not token:
        raise InvalidInput("token", "must not be empty")
    if not all(TOKEN_FIRST <= ch <= TOKEN_LAST for ch in token):
        raise InvalidInput(
            "token", "must be printable ASCII without spaces, tabs, line breaks or NUL"
        )
    return token


def _check_url(url: str, allow_private: bool) -> str:
    if len(url) > BASE_URL_LIMIT:
        raise InvalidInput("base_url", f"must be at most {BASE_URL_LIMIT} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise InvalidInput("base_url", "must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("base_url", "must be an absolute http(s) URL")
    problem = url_problem(url, allow_private)
    if problem:
        raise InvalidInput("base_url", problem)
    return url.rstrip("/")


# Accounts ---------------------------------------------------------------------------


def create_account(session: Session, name: str, billing_status: str = "active") -> Account:
    _storable("name", name)
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    account = Account(name=name, billing_status=_check_billing(billing_status), paused=False)
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: int) -> Account:
    return _get(session, Account, account_id, "account_id")


def update_account(
    session: Session,
    account_id: int,
    *,
    billing_status: str | None = None,
    paused: bool | None = None,
    max_lateness: float | None = None,
) -> Account:
    account = get_account(session, account_id)
    if max_lateness is not None:
        account.max_lateness = _check_lateness(max_lateness)
    if billing_status is not None:
        account.billing_status = _check_billing(billing_status)
    if paused is not None:
        account.paused = paused
    session.flush()
    return account


# Credentials ------------------------------------------------------------------------


def add_credential(
    session: Session,
    box: TokenBox,
    account_id: int,
    provider: str,
    base_url: str,
    token: str,
    *,
    backoff: str | None = None,
    retry_base: float | None = None,
    max_in_flight: int | None = None,
    max_text_length: int | None = None,
    allow_private: bool = True,
) -> Credential:
    """A credential for ``account_id``. ``max_in_flight``: calls in flight at once on it
    (None: ``PUBLISHER_CREDENTIAL_CONCURRENCY``). ``max_text_length``: the longest text
    its posts may have as the network counts it (None: the provider's default).
    ``base_url`` is refused when it points at a link-local or cloud-metadata address, or
    (``allow_private`` false: pass ``settings.allow_private_urls``) at a loopback or
    private one; the engine checks the resolved address again at every call."""
    get_account(session, account_id)
    get_provider(provider)
    _check_token(token)
    if backoff is not None and backoff not in Backoff.__members__.values():
        raise InvalidInput("backoff", f"must be one of: {', '.join(b.value for b in Backoff)}")
    if retry_base is not None and retry_base < 0:
        raise InvalidInput("retry_base", "must be >= 0")
    _check_max_in_flight(max_in_flight)
    _check_max_text_length(max_text_length)
    credential = Credential(
        account_id=account_id,
        provider=provider,
        base_url=_check_url(base_url, allow_private),
        token_encrypted=box.encrypt(token),
        backoff=backoff or Backoff.EXPONENTIAL.value,
        retry_base=retry_base,
        max_in_flight=max_in_flight,
        max_text_length=max_text_length,
    )
    session.add(credential)
    session.flush()
    return credential


def get_credential(session: Session, credential_id: int) -> Credential:
    return _get(session, Credential, credential_id, "credential_id")


def update_credential(
    session: Session,
    credential_id: int,
    now: datetime,
    *,
    max_in_flight: int | EllipsisType | None = ...,
    max_text_length: int | EllipsisType | None = ...,
) -> Credential:
    """Change the credential's settings; a setting not passed keeps its value.
    ``max_in_flight`` None: back to ``PUBLISHER_CREDENTIAL_CONCURRENCY``;
    ``max_text_length`` None: back to the provider's default (drafts are not re-checked)."""
    credential = get_credential(session, credential_id)
    if max_in_flight is not ...:
        _check_max_in_flight(max_in_flight)
        credential.max_in_flight = max_in_flight
    if max_text_length is not ...:
        _check_max_text_length(max_text_length)
        credential.max_text_length = max_text_length
    credential.updated_at = now
    session.flush()
    return credential


def _check_max_in_flight(value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("max_in_flight", "must be an integer")
    if not 1 <= value <= MAX_IN_FLIGHT:
        raise InvalidInput("max_in_flight", f"must be between 1 and {MAX_IN_FLIGHT}")


def _check_max_text_length(value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("max_text_length", "must be an integer")
    if not 1 <= value <= MAX_TEXT_LIMIT:
        raise InvalidInput("max_text_length", f"must be between 1 and {MAX_TEXT_LIMIT}")


def replace_token(
    session: Session, box: TokenBox, credential_id: int, token: str, now: datetime
) -> Credential:
    """Store a new token and clear the credential's invalid mark."""
    credential = get_credential(session, credential_id)
    _check_token(token)
    credential.token_encrypted = box.encrypt(token)
    credential.invalid_since = None
    credential.last_verified_at = None
    credential.updated_at = now
    session.flush()
    return credential


def rotate_tokens(session: Session, box: TokenBox) -> int:
    """Re-encrypt every stored token under the box's first key; returns how many.

    Raises ``TokenError`` (and writes nothing, the caller's transaction rolls back) if any
    token cannot be decrypted with the configured keys.
    """
    credentials = session.scalars(select(Credential).order_by(Credential.id)).all()
    for credential in credentials:
        credential.token_encrypted = box.rotate(credential.token_encrypted)
    session.flush()
    return len(credentials)


def reapprove_unauthorized(
    session: Session, credential_id: int, now: datetime, window: timedelta
) -> list[Post]:
    """Re-approve the posts cancelled as ``unauthorized`` whose time passed by < ``window``.

    Each goes cancelled -> draft -> approved (two history events) and is due now or at its
    original time, whichever is later.
    """
    get_credential(session, credential_id)
    candidates = session.scalars(
        select(Post).where(
            Post.credential_id == credential_id,
            Post.state == State.CANCELLED.value,
            Post.cancel_reason == "unauthorized",
            Post.scheduled_at >= now - window,
        )
    ).all()
    moved = []
    for post in candidates:
        lifecycle.move(session, post.id, Trigger.REOPEN, Actor.USER, now, reason="token replaced")
        moved.append(approve(session, post.id, now, reason="token replaced"))
    return moved


# Posts ------------------------------------------------------------------------------


def create_post(
    session: Session,
    account_id: int,
    credential_id: int,
    text: str,
    *,
    options: Mapping[str, Any] | None = None,
    scheduled_at: datetime | None = None,
    max_attempts: int | None = None,
    recurrence_rule: str | None = None,
    timezone: str | None = None,
    idempotency_key: str | None = None,
    recurrence_until: datetime | None = None,
    recurrence_count: int | None = None,
    max_lateness: float | None = None,
) -> Post:
    """A new post in ``draft``.

    With ``idempotency_key`` (the main app's own, e.g. its post id) a retried request
    returns the post the first one created instead of a second post, so a main app that
    timed out and retried can never get the same content published twice. The key is
    also the one sent to providers. Reusing a key for different content is a conflict.
    """
    if idempotency_key is not None:
        existing = post_by_key(session, idempotency_key)
        if existing is not None:
            return _same_request(existing, account_id, credential_id, text)
    get_account(session, account_id)
    credential = get_credential(session, credential_id)
    if credential.account_id != account_id:
        raise InvalidInput("credential_id", f"credential {credential_id} is not this account's")
    _storable("options", options)
    _storable("timezone", timezone)
    if recurrence_rule is not None:
        recurrence.validate(_storable("recurrence", recurrence_rule), timezone or "UTC")
        series.check_end(recurrence_until, recurrence_count)
    elif recurrence_until is not None or recurrence_count is not None:
        raise InvalidInput("recurrence", "an end (until, count) needs a recurrence rule")
    post = Post(
        account_id=account_id,
        credential_id=credential_id,
        text=_check_text(text, options or {}, credential.provider, credential.max_text_length),
        options=dict(options or {}),
        state=State.DRAFT.value,
        scheduled_at=_aware(scheduled_at, "scheduled_at"),
        max_attempts=_check_max_attempts(max_attempts),
        recurrence=recurrence_rule,
        timezone=(timezone or "UTC") if recurrence_rule else timezone,
        recurrence_until=_aware(recurrence_until, "recurrence_until"),
        recurrence_count=recurrence_count,
        occurrence=1 if recurrence_rule else None,
        max_lateness=_check_lateness(max_lateness),
    )
    if idempotency_key is not None:
        post.idempotency_key = _check_key(idempotency_key)
    try:
        with session.begin_nested():  # a concurrent twin may insert the key first
            session.add(post)
            session.flush()
            if recurrence_rule is not None:
                post.series_id = post.id  # the first occurrence names its series
                session.flush()
    except IntegrityError:
        existing = post_by_key(session, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return _same_request(existing, account_id, credential_id, text)
    return post


def post_by_key(session: Session, key: str) -> Post | None:
    """The post with this idempotency key, if any (``InvalidInput`` for a key that could
    never have been stored)."""
    query = select(Post).where(Post.idempotency_key == _check_key(key))
    return session.scalars(query).one_or_none()


def _check_key(key: str) -> str:
    """A key that fits its column and an ``Idempotency-Key`` header (visible ASCII)."""
    if not 8 <= len(key) <= 64 or not all(TOKEN_FIRST <= ch <= TOKEN_LAST for ch in key):
        raise InvalidInput(
            "idempotency_key", "must be 8 to 64 printable ASCII characters, no spaces"
        )
    return key


def _same_request(existing: Post, account_id: int, credential_id: int, text: str) -> Post:
    if (existing.account_id, existing.credential_id, existing.text) != (
        account_id,
        credential_id,
        text,
    ):
        raise Conflict(
            "this idempotency_key was already used for a different post",
            field="idempotency_key",
            state=existing.state,
        )
    return existing


def get_post(session: Session, post_id: int) -> Post:
    return _get(session, Post, post_id, "post_id")


def edit_post(
    session: Session,
    post_id: int,
    now: datetime,
    *,
    text: str | None = None,
    options: Mapping[str, Any] | None = None,
    scheduled_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Post:
    """Change a draft; any other state is a ``Conflict`` naming it.

    The write is a compare-and-set on (state, version): an edit racing an approval either
    lands before it or fails, so an approved post's text is never changed underneath.
    """
    post = get_post(session, post_id)
    if post.state != State.DRAFT.value:
        raise Conflict(
            f"only a draft can be edited; post {post_id} is {post.state!r}", state=post.state
        )
    credential = get_credential(session, post.credential_id)
    changes: dict[str, Any] = {}
    if options is not None:
        changes["options"] = dict(_storable("options", options))
    if text is not None or options is not None:  # an option may count (a content warning)
        checked = _check_text(
            post.text if text is None else text,
            changes.get("options", post.options),
            credential.provider,
            credential.max_text_length,
        )
        if text is not None:
            changes["text"] = checked
    if scheduled_at is not None:
        changes["scheduled_at"] = _aware(scheduled_at, "scheduled_at")
    if max_attempts is not None:
        changes["max_attempts"] = _check_max_attempts(max_attempts)
    result = session.execute(
        update(Post)
        .where(Post.id == post_id, Post.state == State.DRAFT.value, Post.version == post.version)
        .values(version=Post.version + 1, updated_at=now, **changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LostRace(f"post {post_id} changed while editing it", state=post.state)
    session.refresh(post)
    return post


def approve(
    session: Session,
    post_id: int,
    now: datetime,
    scheduled_at: datetime | None = None,
    *,
    reason: str | None = None,
) -> Post:
    """Approve a draft, due at ``scheduled_at`` (else its own scheduled time, else now).

    A post whose earlier attempt may have landed stays ``ambiguous``: its next attempt
    looks it up at the provider before calling. Its rescue count starts again.
    """
    post = get_post(session, post_id)
    when = _aware(scheduled_at, "scheduled_at") or post.scheduled_at or now
    return lifecycle.move(
        session,
        post_id,
        Trigger.APPROVE,
        Actor.USER,
        now,
        reason=reason,
        changes={
            "scheduled_at": when,
            "next_run_at": when,
            "attempts": 0,
            "rescues": 0,
            "unconfirmed_since": None,
            "enqueued_at": None,
            "cancel_reason": None,
        },
    )


def unapprove(session: Session, post_id: int, now: datetime) -> Post:
    return lifecycle.move(
        session, post_id, Trigger.UNAPPROVE, Actor.USER, now, changes={"next_run_at": None}
    )


def cancel(session: Session, post_id: int, now: datetime, reason: str = "user") -> Post:
    return lifecycle.move(
        session,
        post_id,
        Trigger.CANCEL,
        Actor.USER,
        now,
        reason=reason,
        changes={"cancel_reason": reason, "next_run_at": None},
    )


def reopen(session: Session, post_id: int, now: datetime) -> Post:
    return lifecycle.move(
        session, post_id, Trigger.REOPEN, Actor.USER, now, changes={"cancel_reason": None}
    )


def list_posts(
    session: Session,
    *,
    state: str | None = None,
    account_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[Post]:
    """Posts by id, ``limit`` at most (capped), after the cursor ``after_id``."""
    query = select(Post).where(Post.id > after_id).order_by(Post.id).limit(min(limit, PAGE_LIMIT))
    if state is not None:
        if state not in State.__members__.values():
            raise InvalidInput("state", f"must be one of: {', '.join(s.value for s in State)}")
        query = query.where(Post.state == state)
    if account_id is not None:
        query = query.where(Post.account_id == account_id)
    return session.scalars(query).all()


def history(session: Session, post_id: int) -> Sequence[PostEvent]:
    return session.scalars(
        select(PostEvent).where(PostEvent.post_id == post_id).order_by(PostEvent.id)
    ).all()


def list_calls(session: Session, post_id: int) -> Sequence[ApiCall]:
    get_post(session, post_id)
    return session.scalars(
        select(ApiCall).where(ApiCall.post_id == post_id).order_by(ApiCall.id)
    ).all()


def list_notifications(
    session: Session,
    *,
    account_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[Notification]:
    query = (
        select(Notification)
        .where(Notification.id > after_id)
        .order_by(Notification.id)
        .limit(min(limit, PAGE_LIMIT))
    )
    if account_id is not None:
        query = query.where(Notification.account_id == account_id)
    return session.scalars(query).all()
