"""The retention job: ``core.retention.prune`` one at a time, from beat or the CLI.

A job lease (``PRUNE_LOCK_KEY``, see ``job_lease``) keeps two prunes from running at once;
it is renewed after every batch and released at the end. A prune finding it taken does
nothing; a prune that loses it stops at its next batch (the next prune goes on).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime

import redis
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import retention
from publisher.core.settings import Settings
from publisher.ops import job_lease
from publisher.ops.constants import PRUNE_LOCK_KEY, PRUNE_LOCK_SECONDS

log = logging.getLogger(__name__)


def run(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: redis.Redis,
    owner: str,
    now: datetime,
    dry_run: bool = False,
) -> dict[str, object]:
    """One prune under the lease; ``{"skipped": True}`` when another prune holds it."""
    with job_lease.hold(client, PRUNE_LOCK_KEY, PRUNE_LOCK_SECONDS, owner) as lease:
        if lease is None:
            log.info("prune skipped: another prune is still running")
            return {"skipped": True}
        policy = retention.Policy.from_settings(settings)
        report = retention.prune(sessions, policy, now, dry_run=dry_run, on_batch=lease.renew)
    log.info("prune: %s", report)
    return asdict(report)
