"""The Python API for accounts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from publisher.core.models import Account
from publisher.core.service.checks import check_billing, check_lateness, fetch, storable
from publisher.errors import InvalidInput


def create_account(session: Session, name: str, billing_status: str = "active") -> Account:
    storable("name", name)
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    account = Account(name=name, billing_status=check_billing(billing_status), paused=False)
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: int) -> Account:
    return fetch(session, Account, account_id, "account_id")


def update_account(
    session: Session,
    account_id: int,
    *,
    billing_status: str | None = None,
    paused: bool | None = None,
    max_lateness: float | None = None,
) -> Account:
    account = get_account(session, account_id)
    if max_lateness is not None:
        account.max_lateness = check_lateness(max_lateness)
    if billing_status is not None:
        account.billing_status = check_billing(billing_status)
    if paused is not None:
        account.paused = paused
    session.flush()
    return account
