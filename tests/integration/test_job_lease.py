"""The job lease on a real redis-server: one holder at a time, kept while renewed, lost
to another holder without touching theirs, and given back at the end."""

from __future__ import annotations

import time

import pytest
import redis

from publisher.ops import job_lease
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration]

KEY = "publisher:test:lock"


def test_one_holder_at_a_time_and_given_back_at_the_end(client: redis.Redis) -> None:
    with job_lease.hold(client, KEY, 30, "first") as lease:
        assert lease is not None
        token = client.get(KEY)
        assert token is not None and token.startswith(b"first:")
        # A second job, even in the same process, is refused while the first holds it
        with job_lease.hold(client, KEY, 30, "first") as second:
            assert second is None
        assert client.get(KEY) == token
    assert client.get(KEY) is None


def test_a_lease_renewed_as_the_job_goes_outlives_its_length(client: redis.Redis) -> None:
    # Given a lease of 0.3 s renewed every 0.1 s, for 1 s
    with job_lease.hold(client, KEY, 0.3, "long") as lease:
        assert lease is not None
        token = client.get(KEY)
        for _ in range(10):
            time.sleep(0.1)
            assert lease.renew()
            # Then each renewal gives it its full length again, and nobody else gets it
            assert 200 < client.pttl(KEY) <= 300
            with job_lease.hold(client, KEY, 30, "other") as other:
                assert other is None
        assert client.get(KEY) == token
    assert client.get(KEY) is None


def test_a_lease_not_renewed_lapses_by_itself(client: redis.Redis) -> None:
    with job_lease.hold(client, KEY, 0.2, "dead") as lease:
        assert lease is not None
        time.sleep(0.4)
        with job_lease.hold(client, KEY, 30, "next") as other:
            assert other is not None


def test_a_lost_lease_cannot_be_renewed_nor_released_over_its_new_holder(
    client: redis.Redis,
) -> None:
    with job_lease.hold(client, KEY, 0.2, "slow") as lease:
        assert lease is not None
        # When it lapses and another job takes it
        time.sleep(0.4)
        with job_lease.hold(client, KEY, 30, "next") as other:
            assert other is not None
            theirs = client.get(KEY)
            # Then the renewal says it is lost (and keeps saying so), leaving theirs alone
            assert not lease.renew()
            assert not lease.renew() and lease.lost
            assert client.get(KEY) == theirs and client.pttl(KEY) > 29_000
            # And giving it back at the end of the slow job does not delete theirs
            lease.release()
            assert client.get(KEY) == theirs
    assert client.get(KEY) is None


def test_redis_not_answering_a_renewal_counts_as_lost(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        with job_lease.hold(client, KEY, 30, "cut off") as lease:
            assert lease is not None
            redis_server.stop_server()
            try:
                assert not lease.renew()
            finally:
                redis_server.start_server()
    finally:
        client.close()
