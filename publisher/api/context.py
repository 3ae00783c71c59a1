"""What every route needs, built once per app and passed explicitly (no hidden globals)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.settings import Settings
from publisher.core.tokens import TokenBox
from publisher.engine.exchange import new_session

# Calls the API makes itself (a Bluesky login at connect) are rare: a small pool.
HTTP_PER_HOST = 4

log = logging.getLogger(__name__)


@dataclass
class Context:
    settings: Settings
    sessions: sessionmaker[Session]
    box: TokenBox
    clock: Callable[[], datetime]
    on_approved: Callable[[int, datetime], None] | None = None  # enqueue soon-due posts
    http: requests.Session = field(default_factory=lambda: new_session(HTTP_PER_HOST))

    @property
    def reapprove_window(self) -> timedelta:
        return timedelta(seconds=self.settings.reapprove_window)

    def announce(self, post_id: int, next_run_at: datetime | None) -> None:
        """Tell the engine about an approved post so a soon-due one starts on time.

        Best effort: if it fails, the sweep picks the post up within one interval.
        """
        if self.on_approved is None or next_run_at is None:
            return
        try:
            self.on_approved(post_id, next_run_at)
        except Exception:  # the approval stands; the sweep is the safety net
            log.warning("could not enqueue post %s early", post_id, exc_info=True)


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found
