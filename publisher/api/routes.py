"""The ``/v1`` routes. Each is a few lines: open a transaction, call the service, convert."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from publisher.api import logins
from publisher.api.context import context
from publisher.api.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    ApproveIn,
    CallOut,
    CredentialIn,
    CredentialOut,
    CredentialPatch,
    MediaRef,
    NotificationOut,
    NotificationPage,
    PartIn,
    PostIn,
    PostOut,
    PostPage,
    PostPatch,
    ProviderName,
    SeriesOut,
    TokenIn,
)
from publisher.core import control, db, redact, series, service
from publisher.core.models import MAX_ID, Post

router = APIRouter(prefix="/v1")
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/accounts", status_code=201, tags=["accounts"])
def create_account(request: Request, body: AccountIn) -> AccountOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        return AccountOut.of(service.create_account(session, body.name, body.billing_status))


@router.get("/accounts/{account_id}", tags=["accounts"])
def get_account(request: Request, account_id: ObjectId) -> AccountOut:
    with db.transaction(context(request).sessions) as session:
        return AccountOut.of(service.get_account(session, account_id))


@router.patch("/accounts/{account_id}", tags=["accounts"])
def update_account(request: Request, account_id: ObjectId, body: AccountPatch) -> AccountOut:
    with db.transaction(context(request).sessions) as session:
        account = service.update_account(
            session,
            account_id,
            billing_status=body.billing_status,
            paused=body.paused,
            max_lateness=body.max_lateness,
        )
        return AccountOut.of(account)


@router.post("/accounts/{account_id}/credentials", status_code=201, tags=["credentials"])
def add_credential(request: Request, account_id: ObjectId, body: CredentialIn) -> CredentialOut:
    ctx = context(request)
    given = logins.new_token_set(ctx, account_id, body)  # Bluesky: publisher logs in itself
    secrets = redact.Redactor([body.token, given.token, *body.secrets()])
    with redact.activated(secrets), db.transaction(ctx.sessions) as session:
        credential = service.add_credential(
            session,
            ctx.box,
            account_id,
            body.provider,
            body.base_url,
            given.token,
            backoff=body.backoff,
            retry_base=body.retry_base,
            max_in_flight=body.max_in_flight,
            max_text_length=body.max_text_length,
            allow_private=ctx.settings.allow_private_urls,
            oauth_fields=given.oauth,
            login=given.login,
            now=ctx.clock(),
        )
        return CredentialOut.of(credential)


@router.patch("/credentials/{credential_id}", tags=["credentials"])
def update_credential(
    request: Request, credential_id: ObjectId, body: CredentialPatch
) -> CredentialOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        given = body.model_fields_set
        credential = service.update_credential(
            session,
            credential_id,
            ctx.clock(),
            max_in_flight=body.max_in_flight if "max_in_flight" in given else ...,
            max_text_length=body.max_text_length if "max_text_length" in given else ...,
        )
        return CredentialOut.of(credential)


@router.get("/credentials/{credential_id}", tags=["credentials"])
def get_credential(request: Request, credential_id: ObjectId) -> CredentialOut:
    with db.transaction(context(request).sessions) as session:
        return CredentialOut.of(service.get_credential(session, credential_id))


@router.put("/credentials/{credential_id}/token", tags=["credentials"])
def replace_token(request: Request, credential_id: ObjectId, body: TokenIn) -> CredentialOut:
    ctx = context(request)
    given = logins.token_set(ctx, credential_id, body)  # Bluesky: a new login
    now = ctx.clock()
    secrets = redact.Redactor([body.token, given.token, *body.secrets()])
    with redact.activated(secrets), db.transaction(ctx.sessions) as session:
        credential = service.replace_token(
            session,
            ctx.box,
            credential_id,
            given.token,
            now,
            given.oauth,
            allow_private=ctx.settings.allow_private_urls,
            login=given.login,
        )
        reapproved = []
        if body.reapprove:
            reapproved = service.reapprove_unauthorized(
                session, credential_id, now, ctx.reapprove_window
            )
        out = CredentialOut.of(credential)
    for post in reapproved:
        ctx.announce(post.id, post.next_run_at)
    return out


@router.post("/credentials/{credential_id}/reapprove", tags=["credentials"])
def reapprove(request: Request, credential_id: ObjectId) -> list[PostOut]:
    """Re-approve the posts cancelled as unauthorized within the re-approve window."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        posts = service.reapprove_unauthorized(
            session, credential_id, ctx.clock(), ctx.reapprove_window
        )
        out = [PostOut.of(p) for p in posts]
    for post in out:
        ctx.announce(post.id, post.next_run_at)
    return out


@router.post("/posts", status_code=201, tags=["posts"])
def create_post(request: Request, response: Response, body: PostIn) -> PostOut:
    """A draft; with ``idempotency_key``, a retry returns the same post (200, not 201)."""
    with db.transaction(context(request).sessions) as session:
        key = body.idempotency_key
        if key is not None and service.post_by_key(session, key) is not None:
            response.status_code = 200  # a retry: the same post comes back
        post = service.create_post(
            session,
            body.account_id,
            body.credential_id,
            body.text,
            media=_refs(body.media),
            parts=None if body.parts is None else [_part(part) for part in body.parts],
            options=body.options,
            scheduled_at=body.scheduled_at,
            max_attempts=body.max_attempts,
            recurrence_rule=body.recurrence,
            timezone=body.timezone,
            idempotency_key=body.idempotency_key,
            recurrence_until=body.recurrence_until,
            recurrence_count=body.recurrence_count,
            max_lateness=body.max_lateness,
        )
        return _post_out(session, post)


def _refs(media: list[MediaRef] | None) -> list[dict[str, Any]] | None:
    return None if media is None else [ref.model_dump(exclude_none=True) for ref in media]


def _part(part: PartIn) -> dict[str, Any]:
    return {"text": part.text, "media": _refs(part.media)}


def _post_out(session: Session, post: Post) -> PostOut:
    """The post with its history and its parts' remote ids."""
    steps = service.steps(session, [post.id])[post.id] if post.parts is not None else None
    return PostOut.of(post, service.history(session, post.id), steps)


@router.get("/posts", tags=["posts"])
def list_posts(
    request: Request,
    state: str | None = None,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PostPage:
    with db.transaction(context(request).sessions) as session:
        posts = service.list_posts(
            session, state=state, account_id=account_id, after_id=after_id, limit=limit
        )
        steps = service.steps(session, [p.id for p in posts if p.parts is not None])
        items = [PostOut.of(p, steps=steps.get(p.id)) for p in posts]
    return PostPage(items=items, next_after_id=items[-1].id if len(items) == limit else None)


@router.get("/posts/{post_id}", tags=["posts"])
def get_post(request: Request, post_id: ObjectId) -> PostOut:
    with db.transaction(context(request).sessions) as session:
        post = service.get_post(session, post_id)
        return _post_out(session, post)


@router.patch("/posts/{post_id}", tags=["posts"])
def edit_post(request: Request, post_id: ObjectId, body: PostPatch) -> PostOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        post = service.edit_post(
            session,
            post_id,
            ctx.clock(),
            text=body.text,
            options=body.options,
            scheduled_at=body.scheduled_at,
            max_attempts=body.max_attempts,
            media=_refs(body.media),
            parts=None if body.parts is None else [_part(part) for part in body.parts],
        )
        return _post_out(session, post)


@router.post("/posts/{post_id}/approve", tags=["posts"])
def approve(request: Request, post_id: ObjectId, body: ApproveIn | None = None) -> PostOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        post = service.approve(session, post_id, ctx.clock(), body.scheduled_at if body else None)
        out = _post_out(session, post)
    ctx.announce(out.id, out.next_run_at)
    return out


@router.post("/posts/{post_id}/unapprove", tags=["posts"])
def unapprove(request: Request, post_id: ObjectId) -> PostOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        post = service.unapprove(session, post_id, ctx.clock())
        return _post_out(session, post)


@router.post("/posts/{post_id}/cancel", tags=["posts"])
def cancel(request: Request, post_id: ObjectId) -> PostOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        post = service.cancel(session, post_id, ctx.clock())
        return _post_out(session, post)


@router.post("/posts/{post_id}/reopen", tags=["posts"])
def reopen(request: Request, post_id: ObjectId) -> PostOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        post = service.reopen(session, post_id, ctx.clock())
        return _post_out(session, post)


@router.get("/posts/{post_id}/calls", tags=["posts"])
def list_calls(request: Request, post_id: ObjectId) -> list[CallOut]:
    with db.transaction(context(request).sessions) as session:
        return [CallOut.of(c) for c in service.list_calls(session, post_id)]


@router.get("/notifications", tags=["notifications"])
def list_notifications(
    request: Request,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> NotificationPage:
    with db.transaction(context(request).sessions) as session:
        rows = service.list_notifications(
            session, account_id=account_id, after_id=after_id, limit=limit
        )
        items = [NotificationOut.of(n) for n in rows]
    return NotificationPage(
        items=items, next_after_id=items[-1].id if len(items) == limit else None
    )


@router.post("/pause", tags=["operations"])
def pause(request: Request) -> dict[str, bool]:
    """The operator's kill switch: nothing is enqueued or published until resume."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        control.set_paused(session, True, ctx.clock(), by="api")
    return {"paused": True}


@router.post("/resume", tags=["operations"])
def resume(request: Request) -> dict[str, bool]:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        control.resume(session, ctx.clock(), by="api")
    return {"paused": False}


def _credential_switch(request: Request, credential_id: int, on: bool) -> CredentialOut:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        row = control.set_credential_paused(session, credential_id, on, ctx.clock(), by="api")
        return CredentialOut.of(row)


def _provider_switch(request: Request, provider: str, on: bool) -> dict[str, str | bool]:
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        control.set_provider_paused(session, provider, on, ctx.clock(), by="api")
    return {"provider": provider, "paused": on}


@router.post("/credentials/{credential_id}/pause", tags=["operations"])
def pause_credential(request: Request, credential_id: ObjectId) -> CredentialOut:
    """Hold every post of one credential (nothing is cancelled, no attempt is used)."""
    return _credential_switch(request, credential_id, True)


@router.post("/credentials/{credential_id}/resume", tags=["operations"])
def resume_credential(request: Request, credential_id: ObjectId) -> CredentialOut:
    return _credential_switch(request, credential_id, False)


@router.post("/providers/{provider}/pause", tags=["operations"])
def pause_provider(request: Request, provider: ProviderName) -> dict[str, str | bool]:
    """Hold every post of one provider (e.g. all of X) until resumed."""
    return _provider_switch(request, provider, True)


@router.post("/providers/{provider}/resume", tags=["operations"])
def resume_provider(request: Request, provider: ProviderName) -> dict[str, str | bool]:
    return _provider_switch(request, provider, False)


@router.get("/series/{series_id}", tags=["series"])
def get_series(request: Request, series_id: ObjectId) -> SeriesOut:
    """A recurring post's series: its state, past occurrences and the times ahead."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        return SeriesOut.of(series.get(session, series_id, ctx.clock()))


@router.post("/series/{series_id}/pause", tags=["series"])
def pause_series(request: Request, series_id: ObjectId) -> SeriesOut:
    """Hold the waiting occurrence as a draft (409 when none is waiting)."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        series.pause(session, series_id, ctx.clock())
        return SeriesOut.of(series.get(session, series_id, ctx.clock()))


@router.post("/series/{series_id}/resume", tags=["series"])
def resume_series(request: Request, series_id: ObjectId) -> SeriesOut:
    """Approve the paused occurrence for its next time, or restart a stopped series."""
    ctx = context(request)
    with db.transaction(ctx.sessions) as session:
        post = series.resume(session, series_id, ctx.clock())
        view = SeriesOut.of(series.get(session, series_id, ctx.clock()))
    ctx.announce(post.id, post.next_run_at)
    return view
