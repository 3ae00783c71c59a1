"""Notification delivery (``notifications.deliver_pending``) to the sandbox's endpoint."""

from __future__ import annotations

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import notifications, service
from publisher.core.models import Notification, utcnow
from publisher.sandbox import Sandbox


def test_a_delivery_told_to_stop_stops_after_that_notification(
    sessions: sessionmaker[Session],
) -> None:
    # Given three notifications waiting
    now = utcnow()
    with sessions.begin() as session:
        account = service.create_account(session, "notified")
        for i in range(3):
            notifications.add(session, account.id, None, "test", f"note {i}", now)
    with Sandbox() as sandbox, requests.Session() as http:
        # When on_delivery says stop after the first (the job's lease was lost)
        delivered = notifications.deliver_pending(
            sessions, http, sandbox.url + "/notify", "s", now, (1, 5), on_delivery=lambda: False
        )
        # Then that one was delivered and recorded, and the others wait for the next job
        assert delivered == 1 and len(sandbox.notifications) == 1
    with sessions() as session:
        marks = session.scalars(select(Notification.delivered_at).order_by(Notification.id))
        assert [mark is not None for mark in marks] == [True, False, False]
