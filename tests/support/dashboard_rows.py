"""Rows for the dashboard's query tests, written straight through the models: the
queries read history, so the tests write the history they need, at chosen times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from publisher.core.models import Account, ApiCall, Credential, Post, PostEvent

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # a window's start in the tests


def credential(session: Session, provider: str = "mastodon", account: int | None = None) -> int:
    """A credential of ``provider`` (and a new account unless ``account`` is given)."""
    if account is None:
        row = Account(name="a")
        session.add(row)
        session.flush()
        account = row.id
    made = Credential(
        account_id=account, provider=provider, base_url="http://x", token_encrypted="t"
    )
    session.add(made)
    session.flush()
    return made.id


def post(session: Session, credential_id: int, **fields: Any) -> int:
    """A post of the credential's account, with ``fields`` set."""
    owner = session.get(Credential, credential_id)
    assert owner is not None
    values: dict[str, Any] = {"text": "hello", "state": "done"} | fields
    made = Post(account_id=owner.account_id, credential_id=credential_id, **values)
    session.add(made)
    session.flush()
    return made.id


def call(session: Session, post_id: int, at: datetime, **fields: Any) -> int:
    """An api_calls row of ``post_id`` started at ``at``."""
    values: dict[str, Any] = {
        "attempt": 1,
        "provider": "mastodon",
        "method": "POST",
        "url": "http://x/api/v1/statuses",
        "category": "success",
    } | fields
    made = ApiCall(post_id=post_id, started_at=at, **values)
    session.add(made)
    session.flush()
    return made.id


def event(session: Session, post_id: int, at: datetime, trigger: str, **fields: Any) -> int:
    """A post_events row of ``post_id`` at ``at``."""
    values: dict[str, Any] = {"from_state": "running", "to_state": "retry", "actor": "engine"}
    made = PostEvent(post_id=post_id, at=at, trigger=trigger, **values | fields)
    session.add(made)
    session.flush()
    return made.id
