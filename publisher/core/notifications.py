"""The notification outbox: what the main app must hear about, and its delivery.

Rows are written in the same transaction as the state change they report, so a
notification exists exactly when its cause does. When ``PUBLISHER_NOTIFY_URL`` is set,
``deliver_pending`` posts each row as signed JSON (HMAC-SHA256, ``X-Publisher-Signature``)
until the main app answers 2xx; the row id is sent as the idempotency key, so a retried
delivery is recognisable as the same notification.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.db import Executor, transaction
from publisher.core.models import NOTIFICATIONS, Notification
from publisher.providers.signing import sign

log = logging.getLogger(__name__)

DELIVERY_BATCH = 100  # rows per sweep: bounded so a backlog cannot stall the sweep
DELIVERY_RETRY_CAP = 3600.0  # s: the longest wait between two tries of one delivery

_ADD = insert(NOTIFICATIONS)


def add(
    executor: Executor,
    account_id: int,
    post_id: int | None,
    kind: str,
    message: str,
    now: datetime,
) -> None:
    """Queue a notification in the caller's transaction (a session or a connection)."""
    row = {"account_id": account_id, "post_id": post_id, "kind": kind, "message": message}
    executor.execute(_ADD, row | {"created_at": now})


def _payload(row: Notification) -> bytes:
    return json.dumps(
        {
            "id": row.id,
            "account_id": row.account_id,
            "post_id": row.post_id,
            "kind": row.kind,
            "message": row.message,
            "created_at": row.created_at.isoformat(),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _send(
    http: requests.Session, url: str, secret: str, row: Notification, timeout: tuple[float, float]
) -> bool:
    body = _payload(row)
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": f"notification-{row.id}",
        "X-Publisher-Signature": sign(body, secret),
    }
    try:
        response = http.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        log.info("notification %s not delivered: %s", row.id, exc.__class__.__name__)
        return False
    return 200 <= response.status_code < 300


def deliver_pending(
    sessions: sessionmaker[Session],
    http: requests.Session,
    url: str,
    secret: str,
    now: datetime,
    timeout: tuple[float, float],
    on_delivery: Callable[[], bool] = lambda: True,
) -> int:
    """Deliver due undelivered notifications; returns how many were delivered.

    The caller holds the delivery lock, so one row is never sent by two processes at once:
    ``on_delivery`` runs after each delivery is recorded (the Celery task renews its lease
    there), and when it returns False the batch ends there (the lease was lost).
    The first failed delivery ends the batch: the main app is down, and the rest wait.
    """
    with transaction(sessions) as session:
        rows = session.scalars(
            select(Notification)
            .where(
                Notification.delivered_at.is_(None),
                or_(Notification.next_delivery_at.is_(None), Notification.next_delivery_at <= now),
            )
            .order_by(Notification.id)
            .limit(DELIVERY_BATCH)
        ).all()
    delivered = 0
    for row in rows:
        ok = _send(http, url, secret, row, timeout)
        with transaction(sessions) as session:
            fresh = session.get(Notification, row.id)
            assert fresh is not None
            fresh.delivery_attempts += 1
            if ok:
                fresh.delivered_at = now
                delivered += 1
            else:
                wait = min(DELIVERY_RETRY_CAP, 2.0**fresh.delivery_attempts)
                fresh.next_delivery_at = now + timedelta(seconds=wait)
        if not ok:
            break  # the main app is down: the rest wait for the next round
        if not on_delivery():
            break
    return delivered
