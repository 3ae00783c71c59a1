"""A job lease: a Redis lock held while one job runs, renewed as the job goes.

The sweep, the prune and the notification deliveries each run one at a time across every
process: a job takes its lease or is skipped, renews it after each batch (its full length
again from then on, so a long job keeps it while a dead job's lapses soon), and releases it
at the end. Each step compares the holder's token on the server in one atomic step
(redis-py's ``Lock``, whose Lua scripts check the token before they extend or delete), so
a job whose lease lapsed and was taken by another can neither renew nor delete the other's.
A renewal that finds the lease gone says so, and the job stops at that batch boundary
instead of running beside the new holder.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError
from redis.lock import Lock

log = logging.getLogger(__name__)


class JobLease:
    """A lease taken by ``hold``: ``renew`` after each batch while the job runs."""

    def __init__(self, lock: Lock, seconds: float) -> None:
        self._lock = lock
        self.seconds = seconds
        self.lost = False

    @property
    def key(self) -> str:
        return str(self._lock.name)

    def renew(self) -> bool:
        """Holds the lease for ``seconds`` again from now. False when it is lost (it lapsed,
        and may be another job's now) or Redis cannot say: the job should stop. Once lost,
        always False. Never raises."""
        if self.lost:
            return False
        try:
            self._lock.extend(self.seconds, replace_ttl=True)
        except LockError:  # LockNotOwnedError: the token in Redis is not ours
            log.warning("lease %s lost: it lapsed and another job may hold it", self.key)
            self.lost = True
        except redis.RedisError:
            log.warning("lease %s: Redis did not answer the renewal", self.key, exc_info=True)
            self.lost = True
        return not self.lost

    def release(self) -> None:
        """Gives the lease up if it is still this job's; never raises (a lease not given
        back lapses by itself within ``seconds``)."""
        try:
            self._lock.release()
        except LockError:
            log.warning("lease %s had lapsed before its job ended", self.key)
        except redis.RedisError:
            log.warning("lease %s not released; it lapses by itself", self.key, exc_info=True)


@contextmanager
def hold(client: redis.Redis, key: str, seconds: float, owner: str) -> Iterator[JobLease | None]:
    """The lease on ``key`` for the block, or None when another job holds it (the caller
    skips its run). Released at the end of the block, however it ends. Raises
    ``redis.RedisError`` only when Redis cannot be asked for it.

    The token names ``owner`` (who holds the lease, for an operator reading the key) and is
    unique to this taking: two threads of one process are two holders."""
    # thread_local=False: the token belongs to this JobLease, whichever thread renews it.
    lock = client.lock(key, timeout=seconds, blocking=False, thread_local=False)
    if not lock.acquire(token=f"{owner}:{uuid.uuid4().hex}"):
        yield None
        return
    lease = JobLease(lock, seconds)
    try:
        yield lease
    finally:
        lease.release()
