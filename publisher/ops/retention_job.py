"""The retention job: ``core.retention.prune`` one at a time, from beat or the CLI.

A Redis lock (``PRUNE_LOCK_KEY``) keeps two prunes from running at once; it is extended
after every batch and released at the end. A prune finding the lock taken does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from publisher.core import retention
from publisher.core.settings import Settings
from publisher.ops.constants import PRUNE_LOCK_KEY, PRUNE_LOCK_SECONDS

log = logging.getLogger(__name__)


def run(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: Any,  # a redis.Redis
    owner: str,
    now: datetime,
    dry_run: bool = False,
) -> dict[str, object]:
    """One prune under the lock; ``{"skipped": True}`` when another prune holds it."""
    if not client.set(PRUNE_LOCK_KEY, owner, nx=True, ex=PRUNE_LOCK_SECONDS):
        log.info("prune skipped: another prune is still running")
        return {"skipped": True}

    def extend() -> None:
        if client.get(PRUNE_LOCK_KEY) == owner.encode():
            client.expire(PRUNE_LOCK_KEY, PRUNE_LOCK_SECONDS)

    try:
        policy = retention.Policy.from_settings(settings)
        report = retention.prune(sessions, policy, now, dry_run=dry_run, on_batch=extend)
    finally:
        if client.get(PRUNE_LOCK_KEY) == owner.encode():
            client.delete(PRUNE_LOCK_KEY)
    log.info("prune: %s", report)
    return asdict(report)
