"""The credentials pages' actions: pause and resume a credential, an account or a whole
provider, and re-approve the posts a refused token cancelled, once a new token is in.

Each is the HTTP API's own call (``control.set_credential_paused``, ``service.update_account``,
``control.set_provider_paused``, ``service.reapprove_unauthorized`` then ``announce``), made
by a full key with the session's CSRF token (``Actor``) and recorded in the audit log in
the same transaction. A re-approval is confirmed first with the number of posts it will
move, and refused (nothing written) when that number changed since.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from publisher.core import control, service
from publisher.core.dashboard.credential_health import CredentialHealth
from publisher.errors import Conflict, NotFound, PublisherError
from publisher.providers import PROVIDERS
from publisher.web.access import Actor, Context, Viewer
from publisher.web.refusals import object_id, refused
from publisher.web.render import page
from publisher.web.session import DashboardSession

router = APIRouter()

CREDENTIALS = "/dashboard/credentials"


def _window(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.reapprove_window)


def reapprovable(ctx: Context, credential: CredentialHealth, now: datetime) -> int:
    """Posts a re-approval would move now: none while the credential is still invalid."""
    if credential.invalid_since is not None:
        return 0
    with ctx.database() as db:
        return service.count_reapprovable(db, credential.id, now, _window(ctx))


def _done(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


@dataclass(frozen=True)
class Switch:
    """A kind of kill switch the pages flip: how its target is named in a URL, how it is
    flipped (the HTTP API's own call) and which page shows it afterwards."""

    kind: str  # "credential", "account", "provider": the audit's action and detail key
    target: Callable[[str], int | str]  # the URL's target, or NotFound naming it
    flip: Callable[[Session, Any, bool, datetime, str], object]
    page: Callable[[int | str], str]


def _provider(name: str) -> str:
    if name not in PROVIDERS:
        raise NotFound(f"provider {name!r} not found: one of {', '.join(sorted(PROVIDERS))}")
    return name


CREDENTIAL = Switch(
    "credential",
    lambda given: object_id(given, "credential"),
    lambda db, target, on, now, who: control.set_credential_paused(db, target, on, now, by=who),
    lambda target: f"{CREDENTIALS}/{target}",
)
# The account's switch records no author (``accounts.paused`` is a flag): the audit does.
ACCOUNT = Switch(
    "account",
    lambda given: object_id(given, "account"),
    lambda db, target, on, _now, _who: service.update_account(db, target, paused=on),
    lambda target: f"/dashboard/accounts/{target}",
)
PROVIDER = Switch(
    "provider",
    _provider,
    lambda db, target, on, now, who: control.set_provider_paused(db, target, on, now, by=who),
    lambda _target: CREDENTIALS,
)


def _flip(
    request: Request,
    session: DashboardSession,
    ctx: Context,
    switch: Switch,
    given: str,
    paused: bool,
) -> Response:
    now = ctx.clock()
    try:
        target = switch.target(given)
        with ctx.database.begin() as db:  # the switch and its audit row: one transaction
            switch.flip(db, target, paused, now, session.who)
            action = f"{'pause' if paused else 'resume'}_{switch.kind}"
            service.record_action(db, session.who, action, now, detail={switch.kind: target})
    except PublisherError as exc:
        return refused(request, session, exc)
    return _done(switch.page(target))


@router.post("/credentials/{credential_id}/pause")
def pause_credential(
    request: Request, session: Actor, ctx: Context, credential_id: str
) -> Response:
    """Hold every post of the credential (nothing cancelled, no attempt used)."""
    return _flip(request, session, ctx, CREDENTIAL, credential_id, True)


@router.post("/credentials/{credential_id}/resume")
def resume_credential(
    request: Request, session: Actor, ctx: Context, credential_id: str
) -> Response:
    """Release the credential's posts (those enqueued meanwhile are sent again)."""
    return _flip(request, session, ctx, CREDENTIAL, credential_id, False)


@router.post("/accounts/{account_id}/pause")
def pause_account(request: Request, session: Actor, ctx: Context, account_id: str) -> Response:
    """The account's switch: its posts are cancelled at their turn (``paused``), as the
    API's ``PATCH /v1/accounts/{id}`` does."""
    return _flip(request, session, ctx, ACCOUNT, account_id, True)


@router.post("/accounts/{account_id}/resume")
def resume_account(request: Request, session: Actor, ctx: Context, account_id: str) -> Response:
    return _flip(request, session, ctx, ACCOUNT, account_id, False)


@router.post("/providers/{provider}/pause")
def pause_provider(request: Request, session: Actor, ctx: Context, provider: str) -> Response:
    """Hold every post of every credential of the provider until resumed."""
    return _flip(request, session, ctx, PROVIDER, provider, True)


@router.post("/providers/{provider}/resume")
def resume_provider(request: Request, session: Actor, ctx: Context, provider: str) -> Response:
    return _flip(request, session, ctx, PROVIDER, provider, False)


def _count(ctx: Context, credential_id: int, now: datetime) -> int:
    """Posts to re-approve now; ``Conflict`` while the token is still refused or when none
    waits (the page offers the action only otherwise)."""
    with ctx.database() as db:
        credential = service.get_credential(db, credential_id)
        if credential.invalid_since is not None:
            raise Conflict(f"credential {credential_id} is still invalid: replace its token first")
        count = service.count_reapprovable(db, credential_id, now, _window(ctx))
    if count == 0:
        raise Conflict(f"no post of credential {credential_id} waits for re-approval")
    return count


def _confirm(
    request: Request, session: DashboardSession, credential_id: int, count: int, status: int = 200
) -> Response:
    values = {"credential_id": credential_id, "count": count, "changed": status != 200}
    return page(request, "reapprove.html", values, session=session, status=status)


@router.get("/credentials/{credential_id}/reapprove")
def confirm_reapprove(
    request: Request, session: Viewer, ctx: Context, credential_id: str
) -> Response:
    """The confirmation: how many posts the re-approval will move."""
    try:
        wanted = object_id(credential_id, "credential")
        return _confirm(request, session, wanted, _count(ctx, wanted, ctx.clock()))
    except PublisherError as exc:
        return refused(request, session, exc)


@router.post("/credentials/{credential_id}/reapprove")
def reapprove(
    request: Request,
    session: Actor,
    ctx: Context,
    credential_id: str,
    count: Annotated[str, Form()] = "",
) -> Response:
    """Re-approve the posts cancelled as unauthorized, if they are still the ``count``
    confirmed; otherwise nothing is written and the new count is asked for."""
    now = ctx.clock()
    try:
        wanted = object_id(credential_id, "credential")
        if str(current := _count(ctx, wanted, now)) != count:
            return _confirm(request, session, wanted, current, status=409)
        with ctx.database.begin() as db:
            moved = service.reapprove_unauthorized(db, wanted, now, _window(ctx))
            due = [(post.id, post.next_run_at) for post in moved]
            detail = {"credential": wanted}
            service.record_action(db, session.who, "reapprove", now, posts=len(due), detail=detail)
    except PublisherError as exc:
        return refused(request, session, exc)
    for post_id, next_run_at in due:  # after the commit, as the API does
        ctx.announce(post_id, next_run_at)
    return _done(f"{CREDENTIALS}/{wanted}")
