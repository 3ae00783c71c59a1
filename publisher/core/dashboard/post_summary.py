"""A post's page header (issue 14): its state and where it stands, with the account and
credential it is published through, in one indexed read by primary key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core.models import Account, Credential, Post
from publisher.errors import NotFound


@dataclass(frozen=True)
class PostSummary:
    id: int
    state: str
    text: str  # part 1's
    account_id: int
    account_name: str
    credential_id: int
    provider: str
    scheduled_at: datetime | None
    next_run_at: datetime | None
    published_at: datetime | None
    attempts: int
    max_attempts: int | None
    last_error_category: str | None
    last_error_message: str | None
    cancel_reason: str | None
    ambiguous: bool  # an earlier attempt may have created it: looked up before any call
    unconfirmed_since: datetime | None  # since when lookups could not tell
    external_id: str | None
    external_url: str | None
    series_id: int | None
    occurrence: int | None
    group_id: int | None
    created_at: datetime


_COLUMNS = (
    Post.id,
    Post.state,
    Post.text,
    Post.account_id,
    Account.name.label("account_name"),
    Post.credential_id,
    Credential.provider,
    Post.scheduled_at,
    Post.next_run_at,
    Post.published_at,
    Post.attempts,
    Post.max_attempts,
    Post.last_error_category,
    Post.last_error_message,
    Post.cancel_reason,
    Post.ambiguous,
    Post.unconfirmed_since,
    Post.external_id,
    Post.external_url,
    Post.series_id,
    Post.occurrence,
    Post.group_id,
    Post.created_at,
)


def summary(session: Session, post_id: int) -> PostSummary:
    """The post's header; ``NotFound`` naming the id if there is no such post."""
    row = session.execute(
        select(*_COLUMNS)
        .join(Account, Account.id == Post.account_id)
        .join(Credential, Credential.id == Post.credential_id)
        .where(Post.id == post_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"post {post_id} not found", post_id=post_id)
    return PostSummary(**row._asdict())
