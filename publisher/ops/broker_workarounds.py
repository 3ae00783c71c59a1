"""Workarounds that keep a worker alive through a broker restart (Celery/kombu on Redis).

Checked against celery 5.7.0, kombu 5.7.0, redis-py 8.1.0. Without them a Redis restart
ends a worker about one time in four (seen in ``tests/integration/test_broker.py``):

1. **"Unrecoverable error: AttributeError: 'NoneType' object has no attribute
   'hostname'"**. On a lost connection the consumer closes the broken connection; a
   channel whose transport was already detached (``transport.client = None``, by the
   ``collect()`` just before) then restores its unacknowledged messages through a new
   connection pool, and building that pool reads ``transport.client.hostname``
   (kombu's Redis ``Channel._connparams``). ``ignore_errors`` lets only connection
   errors through, so the AttributeError ends the worker. Same family as celery/kombu#582
   ("Error on restarting Gossip"). ``SafeCloseChannel`` skips that restore when there is
   no connection left to restore through: the messages stay in Redis's unacked hash,
   which kombu restores after the visibility timeout, and the sweep re-sends a lost
   message after ``PUBLISHER_ENQUEUE_GRACE`` anyway.
2. **The same AttributeError from a late acknowledgement**: a task that was running
   while the connection was lost (a sweep across a Redis restart, on the control
   worker's threads) finishes after the consumer reconnected, and its ack goes through
   the old, detached channel, which builds a pool the same way (seen once in
   ``test_broker.py``: "Unrecoverable error" in the control worker).
   ``SafeCloseChannel.basic_ack`` drops that ack with a warning: the message is
   delivered again after the visibility timeout, and its task is harmless twice (the
   sweep is idempotent; a publish finds its post claimed or done).
3. **Gossip and mingle**, which publisher does not use (the post row decides who acts),
   fail the same way when restarted ("Error on restarting Gossip: AttributeError"). The
   consumer below leaves them out for every worker (``publisher worker``, ``celery -A
   publisher worker``, the deploy units), as ``publisher run`` always did with
   ``--without-gossip --without-mingle``.

Remove each when a kombu/celery release fixes it and ``test_broker.py`` passes without it.

One more change is about cost, not survival: 4. kombu builds a new ``redis.Redis`` client
object for every message it stores as unacknowledged and for every ack (``Channel.
conn_or_acquire``), and building one costs more CPU than the Redis calls it then makes
(about 0.3 ms each: the client copies its table of response callbacks). The channel
below builds one per connection pool and reuses it: a redis-py client is safe to share
between threads (each command takes a connection from the pool).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery.worker.consumer import Consumer
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

UNUSED_STEPS = (
    "celery.worker.consumer.mingle:Mingle",
    "celery.worker.consumer.gossip:Gossip",
)


class PublisherConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer without gossip and mingle (the ``worker_consumer`` setting)."""

    class Blueprint(Consumer.Blueprint):  # type: ignore[misc]
        default_steps = [s for s in Consumer.Blueprint.default_steps if s not in UNUSED_STEPS]


class SafeCloseChannel(kombu_redis.Channel):
    """kombu's Redis channel, whose ``close`` survives a connection closed under it, and
    which reuses one Redis client per connection pool."""

    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool  # as kombu's own path: builds the pool if it was dropped
        shared = self._shared_client
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = self._create_client()  # type: ignore[no-untyped-call]
        yield shared

    def close(self) -> None:
        try:
            super().close()  # type: ignore[no-untyped-call]
        except AttributeError:
            if not self._detached():
                raise  # not the detached-connection case: a real bug, let it show
            log.warning(
                "broker: channel closed after its connection; unacknowledged messages "
                "return after the visibility timeout (kombu#582 workaround)"
            )

    def basic_ack(self, delivery_tag: object, multiple: bool = False) -> None:
        try:
            super().basic_ack(delivery_tag, multiple)  # type: ignore[no-untyped-call]
        except AttributeError:
            if not self._detached():
                raise
            log.warning(
                "broker: a message finished after its connection was lost; it is "
                "delivered again after the visibility timeout (kombu#582 workaround)"
            )

    def _detached(self) -> bool:
        transport = self.connection
        return transport is None or getattr(transport, "client", None) is None


def install() -> None:
    """Make kombu's Redis transports (``redis://``, ``redis+socket://``) use the channel."""
    kombu_redis.Transport.Channel = SafeCloseChannel
