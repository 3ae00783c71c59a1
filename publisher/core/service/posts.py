"""The Python API for posts: create, edit, approve, cancel, read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.core import lifecycle, recurrence, series
from publisher.core.models import ApiCall, Credential, Post, PostEvent, PostStep
from publisher.core.service.accounts import get_account
from publisher.core.service.checks import (
    PAGE_LIMIT,
    aware,
    check_key,
    check_lateness,
    check_max_attempts,
    fetch,
    storable,
)
from publisher.core.service.credentials import get_credential
from publisher.core.service.parts import MediaRefs, content, fingerprint, stored_fingerprint
from publisher.core.states import Actor, State, Trigger
from publisher.errors import Conflict, IllegalTransition, InvalidInput, LostRace


def create_post(
    session: Session,
    account_id: int,
    credential_id: int,
    text: str | None,
    *,
    media: MediaRefs | None = None,
    parts: Sequence[Mapping[str, Any]] | None = None,
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

    Content: ``text`` with optional ``media`` ([{"id", "alt"}]), or ``parts`` (a thread:
    [{"text", "media"}], every part in order), each checked per part (``parts``).
    """
    asked = fingerprint(text, media, parts)
    if idempotency_key is not None:
        existing = post_by_key(session, idempotency_key)
        if existing is not None:
            return _same_request(existing, account_id, credential_id, asked)
    get_account(session, account_id)
    credential = get_credential(session, credential_id)
    if credential.account_id != account_id:
        raise InvalidInput("credential_id", f"credential {credential_id} is not this account's")
    storable("options", options)
    storable("timezone", timezone)
    if recurrence_rule is not None:
        recurrence.validate(storable("recurrence", recurrence_rule), timezone or "UTC")
        series.check_end(recurrence_until, recurrence_count)
    elif recurrence_until is not None or recurrence_count is not None:
        raise InvalidInput("recurrence", "an end (until, count) needs a recurrence rule")
    checked, stored_parts = content(
        session, credential, account_id, text, media, parts, options or {}
    )
    post = Post(
        account_id=account_id,
        credential_id=credential_id,
        text=checked,
        parts=stored_parts,
        options=dict(options or {}),
        state=State.DRAFT.value,
        scheduled_at=aware(scheduled_at, "scheduled_at"),
        max_attempts=check_max_attempts(max_attempts),
        recurrence=recurrence_rule,
        timezone=(timezone or "UTC") if recurrence_rule else timezone,
        recurrence_until=aware(recurrence_until, "recurrence_until"),
        recurrence_count=recurrence_count,
        occurrence=1 if recurrence_rule else None,
        max_lateness=check_lateness(max_lateness),
    )
    if idempotency_key is not None:
        post.idempotency_key = check_key(idempotency_key)
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
        return _same_request(existing, account_id, credential_id, asked)
    return post


def post_by_key(session: Session, key: str) -> Post | None:
    """The post with this idempotency key, if any (``InvalidInput`` for a key that could
    never have been stored)."""
    query = select(Post).where(Post.idempotency_key == check_key(key))
    return session.scalars(query).one_or_none()


def _same_request(
    existing: Post, account_id: int, credential_id: int, asked: list[tuple[Any, list[Any]]]
) -> Post:
    stored = stored_fingerprint(existing.text, existing.parts)
    if (existing.account_id, existing.credential_id, stored) != (
        account_id,
        credential_id,
        asked,
    ):
        raise Conflict(
            "this idempotency_key was already used for a different post",
            field="idempotency_key",
            state=existing.state,
        )
    return existing


def get_post(session: Session, post_id: int) -> Post:
    return fetch(session, Post, post_id, "post_id")


def edit_post(
    session: Session,
    post_id: int,
    now: datetime,
    *,
    text: str | None = None,
    options: Mapping[str, Any] | None = None,
    scheduled_at: datetime | None = None,
    max_attempts: int | None = None,
    media: MediaRefs | None = None,
    parts: Sequence[Mapping[str, Any]] | None = None,
) -> Post:
    """Change a draft; any other state is a ``Conflict`` naming it. A thread's content
    changes through ``parts`` (all of them); a one-part post's through ``text``/``media``.

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
        changes["options"] = dict(storable("options", options))
    if any(given is not None for given in (text, options, media, parts)):
        # An option may count (a content warning): every part is checked again.
        changes["text"], changes["parts"] = _edited_content(
            session, post, credential, text, media, parts, changes.get("options", post.options)
        )
    if scheduled_at is not None:
        changes["scheduled_at"] = aware(scheduled_at, "scheduled_at")
    if max_attempts is not None:
        changes["max_attempts"] = check_max_attempts(max_attempts)
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


def _edited_content(
    session: Session,
    post: Post,
    credential: Credential,
    text: str | None,
    media: MediaRefs | None,
    parts: Sequence[Mapping[str, Any]] | None,
    options: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]] | None]:
    current = post.parts
    if parts is None and current is not None and len(current) > 1:
        if text is not None or media is not None:
            raise InvalidInput("parts", "this post is a thread: send all its parts instead")
        parts = current
    if parts is None:
        text = post.text if text is None else text
        media = media if media is not None else (current[0]["media"] if current else None)
    return content(session, credential, post.account_id, text, media, parts, options)


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
    when = aware(scheduled_at, "scheduled_at") or post.scheduled_at or now
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


def retry_now(session: Session, post_id: int, now: datetime, reason: str = "retry now") -> Post:
    """Publish as soon as possible what can be published again, through the state machine.

    A post waiting out a backoff (``retry``) is due now, its attempts kept; a draft (given
    up, unconfirmed, or never approved) is approved for now, with fresh attempts; a
    cancelled post is reopened and approved for now. A post whose earlier attempt may have
    landed stays ``ambiguous`` either way: its next attempt looks it up first. Any other
    state raises ``IllegalTransition``: an approved post keeps its schedule, a running or
    done one is not touched.
    """
    state = get_post(session, post_id).state
    if state == State.RETRY.value:
        changes = {"next_run_at": now, "enqueued_at": None}
        return lifecycle.move(
            session, post_id, Trigger.RETRY_NOW, Actor.USER, now, reason=reason, changes=changes
        )
    if state == State.CANCELLED.value:
        lifecycle.move(session, post_id, Trigger.REOPEN, Actor.USER, now, reason=reason)
    elif state != State.DRAFT.value:
        raise IllegalTransition(
            f"cannot retry a post in state {state!r}", state=state, trigger="retry_now"
        )
    return approve(session, post_id, now, now, reason=reason)


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


def steps(session: Session, post_ids: Sequence[int]) -> dict[int, dict[str, PostStep]]:
    """The confirmed steps of these posts (a thread's parts' remote ids), by post and key."""
    found: dict[int, dict[str, PostStep]] = {post_id: {} for post_id in post_ids}
    if post_ids:
        rows = session.scalars(select(PostStep).where(PostStep.post_id.in_(post_ids)))
        for row in rows:
            found[row.post_id][row.key] = row
    return found


def list_calls(session: Session, post_id: int) -> Sequence[ApiCall]:
    get_post(session, post_id)
    return session.scalars(
        select(ApiCall).where(ApiCall.post_id == post_id).order_by(ApiCall.id)
    ).all()


def reapprove_unauthorized(
    session: Session, credential_id: int, now: datetime, window: timedelta
) -> list[Post]:
    """Re-approve the posts cancelled as ``unauthorized`` whose time passed by < ``window``.

    Each goes cancelled -> draft -> approved (two history events) and is due now or at its
    original time, whichever is later.
    """
    get_credential(session, credential_id)
    candidates = session.scalars(
        select(Post).where(*_reapprovable(credential_id, now, window))
    ).all()
    moved = []
    for post in candidates:
        lifecycle.move(session, post.id, Trigger.REOPEN, Actor.USER, now, reason="token replaced")
        moved.append(approve(session, post.id, now, reason="token replaced"))
    return moved


def count_reapprovable(
    session: Session, credential_id: int, now: datetime, window: timedelta
) -> int:
    """How many posts ``reapprove_unauthorized`` would move now (for its confirmation)."""
    get_credential(session, credential_id)
    where = _reapprovable(credential_id, now, window)
    return session.execute(select(func.count()).select_from(Post).where(*where)).scalar_one()


def _reapprovable(
    credential_id: int, now: datetime, window: timedelta
) -> tuple[ColumnElement[bool], ...]:
    """The credential's posts cancelled as ``unauthorized`` whose time passed by < window."""
    return (
        Post.credential_id == credential_id,
        Post.state == State.CANCELLED.value,
        Post.cancel_reason == "unauthorized",
        Post.scheduled_at >= now - window,
    )
