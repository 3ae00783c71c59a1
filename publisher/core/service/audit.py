"""The dashboard's audit log: every action taken in the dashboard, recorded and listed.

An action is recorded in the same transaction as what it did, so the log never shows an
action that did not happen nor misses one that did. ``who`` is a key's fingerprint (see
``publisher.web.session``), never the key itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core.models import DashboardAction
from publisher.core.service.checks import PAGE_LIMIT
from publisher.errors import InvalidInput

# The columns' widths (models.DashboardAction).
WHO_LENGTH = 64
ACTION_LENGTH = 40


def record_action(
    session: Session,
    who: str,
    action: str,
    now: datetime,
    *,
    posts: int = 0,
    detail: dict[str, Any] | None = None,
) -> DashboardAction:
    """Adds one audit row; refuses (``InvalidInput``) a blank or overlong name or a
    negative count before writing anything."""
    if not who or len(who) > WHO_LENGTH:
        raise InvalidInput("who", f"must be 1 to {WHO_LENGTH} characters")
    if not action or len(action) > ACTION_LENGTH:
        raise InvalidInput("action", f"must be 1 to {ACTION_LENGTH} characters")
    if posts < 0:
        raise InvalidInput("posts", "must be >= 0")
    row = DashboardAction(who=who, action=action, posts=posts, detail=detail or {}, at=now)
    session.add(row)
    session.flush()
    return row


def list_actions(
    session: Session, *, before_id: int | None = None, limit: int = 50
) -> Sequence[DashboardAction]:
    """The newest actions first; the next page starts before the last one's id (keyset)."""
    if limit < 1:
        raise InvalidInput("limit", "must be >= 1")
    query = select(DashboardAction).order_by(DashboardAction.id.desc())
    if before_id is not None:
        query = query.where(DashboardAction.id < before_id)
    return session.scalars(query.limit(min(limit, PAGE_LIMIT))).all()
