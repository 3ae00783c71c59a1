"""The Python API for post groups: one approval, several networks.

A group is one call that creates one post per credential (X, Mastodon, a webhook...) from
shared fields and per-provider or per-credential overrides, and then approves, unapproves
or cancels them as one. Each member is an ordinary post made by ``create_post``, with its
own state machine, retries and notifications: the engine knows nothing of groups.

Guarantees:

- Create is all or nothing: every member is validated as its network counts it, inside
  one savepoint; one refusal writes nothing (no group row, no post row), even for a caller
  that commits after catching it, and names the member and where its bad value came from.
- With an idempotency key a retried create returns the same group, and each member's own
  key (the one sent to its provider) is derived from it, so it is stable too.
- Approve and unapprove are all or nothing: every member must be in the source state, or
  nothing moves and the ``Conflict`` names the member that is not.
- Cancel cancels every member a user may cancel and leaves the rest (done stays done; a
  member in its provider call finishes it); the answer shows each member's state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.core.models import Credential, Post, PostGroup
from publisher.core.service.accounts import get_account
from publisher.core.service.checks import check_key, fetch
from publisher.core.service.group_members import (
    Member,
    Overrides,
    check_credential_ids,
    check_overrides,
    resolve,
)
from publisher.core.service.parts import MediaRefs, fingerprint, stored_fingerprint
from publisher.core.service.posts import approve, cancel, create_post, post_by_key, unapprove
from publisher.core.states import Actor, State, Trigger, sources
from publisher.errors import Conflict, InvalidInput, NotFound

# A member's key is "{group key}-{credential id}": 44 characters, "-" and a 19-digit id
# fill a post key's 64.
GROUP_KEY_LIMIT = 44
_CANCELLABLE = sources(Trigger.CANCEL, Actor.USER)


@dataclass(frozen=True)
class GroupView:
    """A group and its member posts, by id (the order of the create's credential ids)."""

    group: PostGroup
    members: Sequence[Post]

    def counts(self) -> dict[str, int]:
        """Members by state, every state present (zeros too)."""
        found = Counter(post.state for post in self.members)
        return {state.value: found[state.value] for state in State}


def create_group(
    session: Session,
    account_id: int,
    credential_ids: Sequence[int],
    text: str | None,
    *,
    media: MediaRefs | None = None,
    parts: Sequence[Mapping[str, Any]] | None = None,
    options: Mapping[str, Any] | None = None,
    overrides: Overrides | None = None,
    scheduled_at: datetime | None = None,
    max_attempts: int | None = None,
    max_lateness: float | None = None,
    idempotency_key: str | None = None,
) -> GroupView:
    """A group of drafts, one per credential, or nothing at all.

    Content as ``create_post`` takes it: ``text`` (with ``media``) or a thread's ``parts``.
    ``overrides`` maps a provider name ("x", "mastodon", "webhook") or a credential id to
    ``{"text", "media", "parts", "options"}``; a credential's override beats its
    provider's, which beats the shared value (an override's ``options`` or ``media``
    replace the shared ones whole; giving ``parts`` replaces text and media below it, and
    the other way round; a ``None`` value overrides nothing). Raises ``InvalidInput``
    naming the field (e.g. ``overrides.x.text``, ``credential_ids[2]``) and, in the
    message, the member.
    """
    shared = {
        "text": text,
        "media": media,
        "parts": parts,
        "options": options,
        "scheduled_at": scheduled_at,
        "max_attempts": max_attempts,
        "max_lateness": max_lateness,
    }
    ids = check_credential_ids(credential_ids)
    get_account(session, account_id)
    providers = _providers(session, ids)
    by_key = check_overrides(overrides or {}, ids)
    members = [resolve(index, cid, providers[cid], shared, by_key) for index, cid in enumerate(ids)]
    key = None if idempotency_key is None else _check_group_key(idempotency_key)
    if key is not None:
        existing = group_by_key(session, key)
        if existing is not None:
            return _same_request(session, existing, account_id, members)
    with session.begin_nested():  # all or nothing, whatever the caller does after a refusal
        group = PostGroup(account_id=account_id, idempotency_key=key)
        try:
            with session.begin_nested():  # a concurrent twin may insert the key first
                session.add(group)
                session.flush()
        except IntegrityError:
            twin = group_by_key(session, key) if key is not None else None
            if twin is None:
                raise
            return _same_request(session, twin, account_id, members)
        posts = [_create_member(session, account_id, group.id, member, key) for member in members]
    return GroupView(group, posts)


def _create_member(
    session: Session, account_id: int, group_id: int, member: Member, key: str | None
) -> Post:
    member_key = None if key is None else f"{key}-{member.credential_id}"
    if member_key is not None and (taken := post_by_key(session, member_key)) is not None:
        raise Conflict(
            f"idempotency_key: {member.label}'s post key {member_key!r} is post {taken.id}'s",
            field="idempotency_key",
            state=taken.state,
        )
    fields = dict(member.fields)
    try:
        post = create_post(
            session,
            account_id,
            member.credential_id,
            fields.pop("text"),
            idempotency_key=member_key,
            **fields,
        )
    except InvalidInput as exc:
        raise InvalidInput(member.field_of(exc.field), f"{member.label}: {exc.message}") from exc
    post.group_id = group_id
    session.flush()
    return post


def _providers(session: Session, ids: Sequence[int]) -> dict[int, str]:
    query = select(Credential.id, Credential.provider).where(Credential.id.in_(ids))
    rows = {cid: provider for cid, provider in session.execute(query)}
    for index, cid in enumerate(ids):
        if cid not in rows:
            raise NotFound(f"credential {cid} not found", field=f"credential_ids[{index}]")
    return rows


def _check_group_key(key: str) -> str:
    check_key(key)
    if len(key) > GROUP_KEY_LIMIT:
        raise InvalidInput(
            "idempotency_key",
            f"a group's key has at most {GROUP_KEY_LIMIT} characters "
            "(each member's key appends its credential id)",
        )
    return key


def _same_request(
    session: Session, group: PostGroup, account_id: int, members: Sequence[Member]
) -> GroupView:
    view = get_group(session, group.id)
    asked = [(m.credential_id, _asked(m)) for m in members]
    found = [(p.credential_id, stored_fingerprint(p.text, p.parts)) for p in view.members]
    if (group.account_id, found) != (account_id, asked):
        raise Conflict(
            "this idempotency_key was already used for a different group",
            field="idempotency_key",
        )
    return view


def _asked(member: Member) -> list[tuple[Any, list[Any]]]:
    fields = member.fields
    return fingerprint(fields["text"], fields["media"], fields["parts"])


def group_by_key(session: Session, key: str) -> PostGroup | None:
    """The group created with this idempotency key, if any."""
    query = select(PostGroup).where(PostGroup.idempotency_key == check_key(key))
    return session.scalars(query).one_or_none()


def get_group(session: Session, group_id: int) -> GroupView:
    group = fetch(session, PostGroup, group_id, "group_id")
    members = session.scalars(select(Post).where(Post.group_id == group_id).order_by(Post.id))
    return GroupView(group, members.all())


def approve_group(
    session: Session, group_id: int, now: datetime, scheduled_at: datetime | None = None
) -> GroupView:
    """Approve every member (due at ``scheduled_at``, else its own time, else now), or
    none: a member that is not a draft is a ``Conflict`` naming it, and nothing moves."""
    view = _all_in(session, group_id, State.DRAFT, "approve")
    with session.begin_nested():
        for post in view.members:
            approve(session, post.id, now, scheduled_at)
        view.group.updated_at = now
    return get_group(session, group_id)


def unapprove_group(session: Session, group_id: int, now: datetime) -> GroupView:
    """Every approved member back to draft, or none (as ``approve_group``)."""
    view = _all_in(session, group_id, State.APPROVED, "unapprove")
    with session.begin_nested():
        for post in view.members:
            unapprove(session, post.id, now)
        view.group.updated_at = now
    return get_group(session, group_id)


def cancel_group(session: Session, group_id: int, now: datetime) -> GroupView:
    """Cancel every member a user may cancel (draft, approved, retry); the others stay as
    they are: done, already cancelled, or running (in its provider call: it ends done, in
    retry, where cancelling the group again stops it, or back in draft)."""
    view = get_group(session, group_id)
    for post in view.members:
        if State(post.state) in _CANCELLABLE:
            try:
                cancel(session, post.id, now)
            except Conflict:  # a worker claimed it since it was read (nothing was written)
                session.refresh(post)  # the answer shows where it is now
    view.group.updated_at = now
    session.flush()
    return get_group(session, group_id)


def _all_in(session: Session, group_id: int, state: State, verb: str) -> GroupView:
    view = get_group(session, group_id)
    for index, post in enumerate(view.members):
        if post.state != state.value:
            raise Conflict(
                f"cannot {verb} group {group_id}: its post {post.id} (credential "
                f"{post.credential_id}) is {post.state!r}; every member must be "
                f"{state.value!r}, and none was changed",
                field=f"members[{index}]",
                state=post.state,
            )
    return view
