"""The ``/v1/post-groups`` routes and their bodies: one approval, several networks.

A thin layer over ``core.service.groups`` (the guarantees are stated there): create one
draft per credential in one call (201; a retry with the same ``idempotency_key`` returns
the same group, 200), read the group with its members as the post API shows them and
counts by state, approve / unapprove it as one (409 naming the member when one is not in
the needed state; then nothing changed), cancel it (every member that can be cancelled is).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.openapi.models import Example
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from publisher.api.context import Context, context
from publisher.api.routes import ObjectId
from publisher.api.schemas import ApproveIn, MediaRef, PartIn, PostOut, Strict
from publisher.core import db, service
from publisher.core.models import MAX_ID
from publisher.core.service.groups import GROUP_KEY_LIMIT

router = APIRouter(prefix="/v1/post-groups", tags=["post groups"])


class OverrideIn(Strict):
    """What one provider's or one credential's member says differently (null: shared).
    Content is text (and media) or a thread's parts: giving one replaces the other."""

    text: str | None = Field(default=None, max_length=100_000)
    media: list[MediaRef] | None = Field(default=None, max_length=100)  # replaces, whole
    parts: list[PartIn] | None = Field(default=None, max_length=1000)
    options: dict[str, Any] | None = None  # replaces the shared options whole


class GroupIn(Strict):
    account_id: int = Field(ge=1, le=MAX_ID)
    credential_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=service.MAX_MEMBERS
    )
    # Shared by every member unless overridden; may be left out when every member has its own.
    text: str | None = Field(default=None, max_length=100_000)
    media: list[MediaRef] | None = Field(default=None, max_length=100)
    parts: list[PartIn] | None = Field(default=None, max_length=1000)  # a thread, not text
    options: dict[str, Any] | None = None
    # Keyed by provider ("x", "mastodon", "webhook") or by credential id ("17"): the
    # credential's override beats its provider's, which beats the shared value.
    overrides: dict[str, OverrideIn] | None = None
    scheduled_at: AwareDatetime | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    max_lateness: float | None = Field(default=None, gt=0, le=366 * 86_400)
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=GROUP_KEY_LIMIT)


class GroupOut(BaseModel):
    id: int
    account_id: int
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    counts: dict[str, int]  # members by state, every state present
    members: list[PostOut]  # in the order of the create's credential_ids

    @classmethod
    def of(cls, session: Session, view: service.GroupView) -> GroupOut:
        """The group; its threads' members with their parts' remote ids."""
        group = view.group
        steps = service.steps(session, [p.id for p in view.members if p.parts is not None])
        return cls(
            id=group.id,
            account_id=group.account_id,
            idempotency_key=group.idempotency_key,
            created_at=group.created_at,
            updated_at=group.updated_at,
            counts=view.counts(),
            members=[PostOut.of(post, steps=steps.get(post.id)) for post in view.members],
        )


EXAMPLES: dict[str, Example] = {
    "three_networks": {
        "summary": "One announcement to X, Mastodon and a webhook",
        "description": "Shared text; X gets a shorter text, Mastodon a content warning.",
        "value": {
            "account_id": 1,
            "credential_ids": [11, 12, 13],
            "text": "Our spring release is out: faster sync, offline mode and a new look.",
            "overrides": {
                "x": {"text": "Spring release: faster sync, offline mode, new look."},
                "mastodon": {"options": {"spoiler_text": "release notes"}},
            },
            "scheduled_at": "2030-04-01T09:00:00Z",
            "idempotency_key": "release-2030-04",
        },
    },
    "thread_for_x": {
        "summary": "A thread on X, one text elsewhere",
        "description": "Parts given for X replace the shared text there.",
        "value": {
            "account_id": 1,
            "credential_ids": [11, 12],
            "text": "Our spring release is out: faster sync, offline mode and a new look.",
            "overrides": {
                "x": {
                    "parts": [
                        {"text": "Our spring release is out (1/2)"},
                        {"text": "Faster sync, offline mode and a new look (2/2)"},
                    ]
                }
            },
        },
    },
    "per_credential": {
        "summary": "Two Mastodon accounts, one with its own text",
        "description": "A credential id as the key beats the provider's override.",
        "value": {
            "account_id": 1,
            "credential_ids": [12, 14],
            "text": "Doors open at 9 tomorrow.",
            "overrides": {"14": {"text": "Portes ouvertes demain à 9 h."}},
        },
    },
}


@router.post("", status_code=201)
def create_group(
    request: Request,
    response: Response,
    body: Annotated[GroupIn, Body(openapi_examples=EXAMPLES)],
) -> GroupOut:
    """One draft per credential, all validated before anything is written (one refusal:
    422 naming the field and the member, nothing created); with ``idempotency_key`` a
    retry returns the same group (200, not 201)."""
    with db.transaction(context(request).sessions) as session:
        key = body.idempotency_key
        if key is not None and service.group_by_key(session, key) is not None:
            response.status_code = 200  # a retry: the same group comes back
        overrides = {k: v.model_dump(exclude_none=True) for k, v in (body.overrides or {}).items()}
        shared = body.model_dump(include={"media", "parts"}, exclude_none=True)
        view = service.create_group(
            session,
            body.account_id,
            body.credential_ids,
            body.text,
            media=shared.get("media"),
            parts=shared.get("parts"),
            options=body.options,
            overrides=overrides,
            scheduled_at=body.scheduled_at,
            max_attempts=body.max_attempts,
            max_lateness=body.max_lateness,
            idempotency_key=key,
        )
        return GroupOut.of(session, view)


@router.get("/{group_id}")
def get_group(request: Request, group_id: ObjectId) -> GroupOut:
    with db.transaction(context(request).sessions) as session:
        return GroupOut.of(session, service.get_group(session, group_id))


@router.post("/{group_id}/approve")
def approve_group(request: Request, group_id: ObjectId, body: ApproveIn | None = None) -> GroupOut:
    """Approve every member, or none: 409 naming the first member that is not a draft."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        scheduled_at = body.scheduled_at if body else None
        view = service.approve_group(session, group_id, ctx.clock(), scheduled_at)
        out = GroupOut.of(session, view)
    _announce(ctx, out)
    return out


@router.post("/{group_id}/unapprove")
def unapprove_group(request: Request, group_id: ObjectId) -> GroupOut:
    """Every member back to draft, or none: 409 naming the first that is not approved."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        return GroupOut.of(session, service.unapprove_group(session, group_id, ctx.clock()))


@router.post("/{group_id}/cancel")
def cancel_group(request: Request, group_id: ObjectId) -> GroupOut:
    """Cancel every member that can be; done members stay done, a running one finishes
    its call (cancel again if it ends in retry). The answer shows each member's state."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        return GroupOut.of(session, service.cancel_group(session, group_id, ctx.clock()))


def _announce(ctx: Context, out: GroupOut) -> None:
    for post in out.members:
        ctx.announce(post.id, post.next_run_at)
