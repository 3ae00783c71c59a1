"""The post's lease as the worker holds it: renewed before each request to the provider,
and the time budget each request may take so that none outlives the lease."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from publisher.engine import lock
from publisher.engine.concurrency import Slot
from publisher.engine.constants import LEASE_RENEW_AFTER, LEASE_SAFETY_MARGIN
from publisher.engine.dependencies import Dependencies
from publisher.engine.exchange import json_of, perform
from publisher.engine.lock import Job
from publisher.errors import LookupFailed
from publisher.providers.base import GetJson, PreparedCall

log = logging.getLogger(__name__)


def margin(deps: Dependencies) -> float:
    """Seconds of lease a request must leave unused (clock drift, the final write)."""
    longest = sum(deps.timeout)
    return min(LEASE_SAFETY_MARGIN, (deps.settings.lease_seconds - longest) / 2)


@dataclass
class Lease:
    """The post's lease as this worker last wrote it."""

    expires_at: datetime
    written_at: datetime
    slot: Slot | None = None  # renewed with the lease

    def budget(self, deps: Dependencies, job: Job) -> float | None:
        """Seconds the next provider request may take, after renewing the lease (a
        fenced write) if it was written over ``LEASE_RENEW_AFTER`` ago; None when the
        post is no longer this worker's (rescued, or moved on): make no request."""
        now = deps.clock()
        if (now - self.written_at).total_seconds() > LEASE_RENEW_AFTER:
            with deps.engine.begin() as connection:
                expires = lock.renew(connection, job, now, deps.lease)
            if expires is None:
                return None
            self.expires_at, self.written_at = expires, now
            if self.slot is not None and not deps.limiter.renew(
                self.slot, deps.settings.lease_seconds
            ):
                log.warning("post %s: its call slot expired", job.post_id)
        left = (self.expires_at - now).total_seconds() - margin(deps)
        return min(sum(deps.timeout), left) if left > 0 else None


def get_json(deps: Dependencies, job: Job, lease: Lease) -> GetJson:
    """The lookups' GET: lease renewed first, then the same deadline and size bound."""

    def get_json(url: str, headers: Mapping[str, str]) -> Any:
        budget = lease.budget(deps, job)
        if budget is None:
            raise LookupFailed("the post's lease was lost")
        call = PreparedCall("GET", url, headers)
        private = deps.settings.allow_private_urls
        return json_of(perform(deps.http, call, deps.timeout, time.monotonic() + budget, private))

    return get_json
