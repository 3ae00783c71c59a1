"""The kill switches in force, at every scope, with who set them and when (where stored).

The global and per-provider switches live in the ``control`` table (``core/control``),
a credential's on its row (``paused_at``, ``paused_by``); an account's pause records no
author or time, so those stay None.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core import control
from publisher.core.models import Account, Credential


class Scope(enum.StrEnum):
    GLOBAL = "global"  # all publishing
    PROVIDER = "provider"  # every credential of one network
    CREDENTIAL = "credential"  # one credential
    ACCOUNT = "account"  # one account (its posts are cancelled, not held)


@dataclass(frozen=True)
class Switch:
    scope: Scope
    target: str | None  # the provider's name or the row's id; None for the global switch
    by: str | None
    at: datetime | None


def _parse_at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _global(session: Session) -> list[Switch]:
    value = control.read(session, control.PAUSED) or {}
    if not value.get("paused"):
        return []
    return [Switch(Scope.GLOBAL, None, value.get("by"), _parse_at(value.get("at")))]


def _providers(session: Session) -> list[Switch]:
    value = control.read(session, control.PAUSED_PROVIDERS) or {}
    return [
        Switch(Scope.PROVIDER, name, info.get("by"), _parse_at(info.get("at")))
        for name, info in sorted(value.items())
    ]


def _credentials(session: Session) -> list[Switch]:
    rows = session.execute(
        select(Credential.id, Credential.paused_by, Credential.paused_at)
        .where(Credential.paused_at.is_not(None))
        .order_by(Credential.id)
    )
    return [Switch(Scope.CREDENTIAL, str(i), by, at) for i, by, at in rows]


def _accounts(session: Session) -> list[Switch]:
    ids = session.execute(
        select(Account.id).where(Account.paused.is_(True)).order_by(Account.id)
    ).scalars()
    return [Switch(Scope.ACCOUNT, str(i), None, None) for i in ids]


def switches_on(session: Session) -> tuple[Switch, ...]:
    """Every switch in force: global first, then providers, credentials, accounts."""
    return (
        *_global(session),
        *_providers(session),
        *_credentials(session),
        *_accounts(session),
    )
