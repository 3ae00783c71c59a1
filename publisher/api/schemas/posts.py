"""Posts: requests, answers (parts with their remote ids, history, the call log)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from publisher.api.schemas.common import Strict
from publisher.core.models import (
    MAX_ID,
    ApiCall,
    Post,
    PostEvent,
    PostStep,
)


class MediaRef(Strict):
    """A media file uploaded with ``POST /v1/media``, attached to a post or a part."""

    id: int = Field(ge=1, le=MAX_ID)
    alt: str | None = Field(default=None, max_length=10_000)  # overrides the upload's alt


class PartIn(Strict):
    """One part of a thread: published as a reply to the part before."""

    text: str = Field(max_length=100_000)
    media: list[MediaRef] = Field(default_factory=list, max_length=100)


class PostIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"account_id": 1, "credential_id": 2, "text": "Hello, world"},
                {
                    "account_id": 1,
                    "credential_id": 2,
                    "text": "Our new office",
                    "media": [{"id": 7, "alt": "A bright room with six desks"}],
                },
                {
                    "account_id": 1,
                    "credential_id": 2,
                    "parts": [
                        {"text": "A thread about our launch (1/2)"},
                        {"text": "The details (2/2)", "media": [{"id": 7}]},
                    ],
                },
            ]
        },
    )

    account_id: int = Field(ge=1, le=MAX_ID)
    credential_id: int = Field(ge=1, le=MAX_ID)
    # The post's text; left out when ``parts`` is given.
    text: str | None = Field(default=None, max_length=100_000)
    media: list[MediaRef] | None = Field(default=None, max_length=100)
    # A thread: every part in order (``text`` and ``media`` left out).
    parts: list[PartIn] | None = Field(default=None, max_length=1000)
    options: dict[str, Any] | None = None
    scheduled_at: AwareDatetime | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    recurrence: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    recurrence_until: AwareDatetime | None = None
    recurrence_count: int | None = Field(default=None, ge=1, le=1_000_000)
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=64)
    max_lateness: float | None = Field(default=None, gt=0, le=366 * 86_400)


class PostPatch(Strict):
    text: str | None = Field(default=None, max_length=100_000)
    media: list[MediaRef] | None = Field(default=None, max_length=100)
    parts: list[PartIn] | None = Field(default=None, max_length=1000)
    options: dict[str, Any] | None = None
    scheduled_at: AwareDatetime | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=100)


class ApproveIn(Strict):
    scheduled_at: AwareDatetime | None = None


class EventOut(BaseModel):
    from_state: str
    to_state: str
    trigger: str
    reason: str | None
    actor: str
    at: datetime

    @classmethod
    def of(cls, row: PostEvent) -> EventOut:
        return cls(
            from_state=row.from_state,
            to_state=row.to_state,
            trigger=row.trigger,
            reason=row.reason,
            actor=row.actor,
            at=row.at,
        )


class LastError(BaseModel):
    category: str
    message: str | None


class PartOut(BaseModel):
    """One part as stored, with its id at the provider once it is published (and each
    media file's ``external_id`` once uploaded)."""

    text: str
    media: list[dict[str, Any]]
    external_id: str | None
    external_url: str | None


def _parts(row: Post, steps: Mapping[str, PostStep] | None) -> list[PartOut]:
    stored = row.parts or [{"text": row.text, "media": []}]
    out = []
    for index, part in enumerate(stored):
        step = (steps or {}).get(f"p{index}")
        external_id = step.external_id if step else None
        external_url = step.external_url if step else None
        if index == 0 and row.external_id is not None:
            external_id, external_url = row.external_id, row.external_url
        media = [
            {**item, "external_id": _step_id(steps, f"p{index}.m{m}")}
            for m, item in enumerate(part["media"])
        ]
        out.append(
            PartOut(
                text=part["text"], media=media, external_id=external_id, external_url=external_url
            )
        )
    return out


def _step_id(steps: Mapping[str, PostStep] | None, key: str) -> str | None:
    """A media file's id at the provider, once uploaded (None: not yet, or never: a
    provider that takes media by URL)."""
    step = (steps or {}).get(key)
    return step.external_id if step else None


class PostOut(BaseModel):
    id: int
    account_id: int
    credential_id: int
    text: str
    media: list[dict[str, Any]]  # part 1's media ({"id", "type", "alt"})
    # Every part in order (one for a post that is not a thread), each with its id at the
    # provider once published: a cancelled thread shows which parts are out.
    parts: list[PartOut]
    options: dict[str, Any]
    state: str
    scheduled_at: datetime | None
    next_run_at: datetime | None
    attempts: int
    max_attempts: int | None
    idempotency_key: str
    external_id: str | None
    external_url: str | None
    published_at: datetime | None
    last_error: LastError | None
    cancel_reason: str | None
    recurrence: str | None
    timezone: str | None
    series_id: int | None
    occurrence: int | None
    recurrence_until: datetime | None
    recurrence_count: int | None
    max_lateness: float | None
    group_id: int | None  # the post group it was created in (POST /v1/post-groups)
    created_at: datetime
    updated_at: datetime
    history: list[EventOut] | None = None

    @classmethod
    def of(
        cls,
        row: Post,
        events: Sequence[PostEvent] | None = None,
        steps: Mapping[str, PostStep] | None = None,
    ) -> PostOut:
        """``steps``: the post's confirmed steps by key (a thread's parts' ids)."""
        error = None
        if row.last_error_category:
            error = LastError(category=row.last_error_category, message=row.last_error_message)
        return cls(
            id=row.id,
            account_id=row.account_id,
            credential_id=row.credential_id,
            text=row.text,
            media=row.parts[0]["media"] if row.parts else [],
            parts=_parts(row, steps),
            options=row.options,
            state=row.state,
            scheduled_at=row.scheduled_at,
            next_run_at=row.next_run_at,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            idempotency_key=row.idempotency_key,
            external_id=row.external_id,
            external_url=row.external_url,
            published_at=row.published_at,
            last_error=error,
            cancel_reason=row.cancel_reason,
            recurrence=row.recurrence,
            timezone=row.timezone,
            series_id=row.series_id,
            occurrence=row.occurrence,
            recurrence_until=row.recurrence_until,
            recurrence_count=row.recurrence_count,
            max_lateness=row.max_lateness,
            group_id=row.group_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            history=None if events is None else [EventOut.of(e) for e in events],
        )


class PostPage(BaseModel):
    items: list[PostOut]
    next_after_id: int | None


class CallOut(BaseModel):
    id: int
    attempt: int
    provider: str
    method: str
    url: str
    request_headers: dict[str, Any]
    request_body: str | None
    status_code: int | None
    response_headers: dict[str, Any]
    response_body: str | None
    duration_ms: float | None
    category: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    step: str | None  # a multi-step publish's step: "p0.m1" (upload), "p1" (part 2)...

    @classmethod
    def of(cls, row: ApiCall) -> CallOut:
        return cls(
            id=row.id,
            attempt=row.attempt,
            provider=row.provider,
            method=row.method,
            url=row.url,
            request_headers=row.request_headers,
            request_body=row.request_body,
            status_code=row.status_code,
            response_headers=row.response_headers,
            response_body=row.response_body,
            duration_ms=row.duration_ms,
            category=row.category,
            error=row.error,
            started_at=row.started_at,
            finished_at=row.finished_at,
            step=row.step,
        )
