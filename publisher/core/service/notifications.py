"""The Python API for the main app's notifications."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core.models import Notification
from publisher.core.service.checks import PAGE_LIMIT


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
