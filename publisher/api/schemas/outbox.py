"""What the API shows besides posts: notifications and a recurring post's series."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from publisher.core.models import (
    Notification,
)
from publisher.core.series import SeriesView


class NotificationOut(BaseModel):
    id: int
    account_id: int
    post_id: int | None
    kind: str
    message: str
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationOut:
        return cls(
            id=row.id,
            account_id=row.account_id,
            post_id=row.post_id,
            kind=row.kind,
            message=row.message,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_after_id: int | None


class OccurrenceOut(BaseModel):
    post_id: int
    occurrence: int | None
    state: str
    scheduled_at: datetime | None
    external_id: str | None
    external_url: str | None


class SeriesOut(BaseModel):
    id: int
    state: str  # active | paused | stopped | ended
    recurrence: str
    timezone: str
    recurrence_until: datetime | None
    recurrence_count: int | None
    occurrences: list[OccurrenceOut]  # newest first
    upcoming: list[datetime]

    @classmethod
    def of(cls, view: SeriesView) -> SeriesOut:
        return cls(
            id=view.id,
            state=view.state,
            recurrence=view.rule,
            timezone=view.timezone,
            recurrence_until=view.until,
            recurrence_count=view.count,
            occurrences=[
                OccurrenceOut(
                    post_id=p.id,
                    occurrence=p.occurrence,
                    state=p.state,
                    scheduled_at=p.scheduled_at,
                    external_id=p.external_id,
                    external_url=p.external_url,
                )
                for p in view.occurrences
            ],
            upcoming=list(view.upcoming),
        )
