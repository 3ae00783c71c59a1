"""Credentials and accounts: their health and actions (pause, resume, re-approve).

The pages read ``core.dashboard.credential_health`` (never a token: its queries do not
select one); the actions are in ``credential_actions``, mounted here. An unknown id or a
malformed filter answers a page naming it (404, 422), never a 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from publisher.core.dashboard import credential_health as health
from publisher.core.dashboard.credential_health import CredentialFilter, Problem
from publisher.errors import InvalidInput, PublisherError
from publisher.providers import PROVIDERS
from publisher.web import credential_actions
from publisher.web.access import Context, Viewer
from publisher.web.refusals import MAX_ID, object_id, refused
from publisher.web.render import page

router = APIRouter()
router.include_router(credential_actions.router)


def _filter(provider: str, problem: str) -> CredentialFilter:
    if problem and problem not in Problem.__members__.values():
        known = ", ".join(p.value for p in Problem)
        raise InvalidInput("problem", f"unknown problem {problem!r}: one of {known}")
    return CredentialFilter(provider or None, Problem(problem) if problem else None)


def _after(value: str) -> int | None:
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
        raise InvalidInput("after", f"after {value!r}: the page's start is a credential's id")
    return int(value)


@router.get("/credentials")
def credentials(
    request: Request,
    session: Viewer,
    ctx: Context,
    provider: str = "",
    problem: str = "",
    after: Annotated[str, Query()] = "",
) -> Response:
    try:
        wanted = _filter(provider, problem)
        start = _after(after)
        with ctx.database() as db:
            found = health.credentials(db, wanted, ctx.clock(), after=start)
            switches = health.provider_switches(db)
    except PublisherError as exc:
        return refused(request, session, exc)
    values = {
        "page": found,
        "switches": switches,
        "providers": sorted(PROVIDERS),
        "problems": [p.value for p in Problem],
        "wanted": wanted,
    }
    return page(request, "credentials.html", values, session=session)


@router.get("/credentials/{credential_id}")
def credential(request: Request, session: Viewer, ctx: Context, credential_id: str) -> Response:
    now = ctx.clock()
    try:
        wanted = object_id(credential_id, "credential")
        with ctx.database() as db:
            detail = health.credential(db, wanted, now)
    except PublisherError as exc:
        return refused(request, session, exc)
    values = {
        "detail": detail,
        "c": detail.health,
        "reapprovable": credential_actions.reapprovable(ctx, detail.health, now),
    }
    return page(request, "credential.html", values, session=session)


@router.get("/accounts/{account_id}")
def account(request: Request, session: Viewer, ctx: Context, account_id: str) -> Response:
    try:
        wanted = object_id(account_id, "account")
        with ctx.database() as db:
            found = health.account(db, wanted, ctx.clock())
    except PublisherError as exc:
        return refused(request, session, exc)
    return page(request, "account.html", {"account": found}, session=session)
