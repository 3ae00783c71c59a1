"""Rate limits end to end on real components (redis-server, celery worker and beat
processes, SQLite or PostgreSQL, the sandbox): a 429 holds the credential until the
provider's reset, and a credential never has more calls in flight than it allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.models import Credential, Post, PostEvent, utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.engine import exchange, worker
from publisher.engine.concurrency import Held, Limiter, LocalLimiter, Slot
from publisher.engine.dependencies import Dependencies
from publisher.sandbox import CallRecord, Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MASTODON_CREATE = "/api/v1/statuses"


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str) -> Iterator[Pipeline]:
    """Two worker processes (two slots each) and beat, on SQLite or PostgreSQL."""
    with RedisServer() as redis_server, Sandbox() as sandbox:
        running = Pipeline(tmp_path, database_url, redis_server.url, sandbox)
        running.start_worker("worker", concurrency=2)
        running.start_worker("worker2", concurrency=2)
        running.start_beat()
        try:
            yield running
        finally:
            running.stop()


def _creates(pipeline: Pipeline, token: str) -> list[CallRecord]:
    """The create calls ``token`` made, in the order the sandbox saw them."""
    return [
        call
        for call in pipeline.sandbox.calls
        if call.method == "POST"
        and call.path == MASTODON_CREATE
        and call.headers.get("Authorization") == f"Bearer {token}"
    ]


def _warm_up(pipeline: Pipeline) -> None:
    """Waits until the workers publish (started and connected), on another credential."""
    account = pipeline.account()
    credential = pipeline.credential(account, token="tok-warm-up")
    post = pipeline.post(account, credential, f"warm up {account}")
    assert pipeline.wait_final([post])[post].state == "done"


def test_429_holds_every_due_post_of_the_credential_until_the_reset(pipeline: Pipeline) -> None:
    # Given warm workers, and a provider whose 429 asks to wait 6 s
    _warm_up(pipeline)
    pipeline.sandbox.throttle_seconds = 6
    account = pipeline.account()
    token = f"tok-held-{account}"
    credential = pipeline.credential(account, token=token)
    # And a post due now that meets a 429, and three more of the credential's posts that
    # fall due soon after it, inside the provider's window
    limited = pipeline.post(account, credential, f"[[fault:429,ok]] limited {account}")
    soon = utcnow() + timedelta(seconds=2.5)
    held = [
        pipeline.post(account, credential, f"held {n} {account}", scheduled_at=soon)
        for n in range(3)
    ]
    throttled = wait_for(lambda: [c for c in _creates(pipeline, token) if c.status == 429], 30)
    assert throttled[0].at < soon, "the 429 came too late for the test to mean anything"

    # When every post settles
    posts = pipeline.wait_final([limited, *held], timeout=60)

    # Then the credential was held at least as long as the provider asked
    with pipeline.sessions() as session:
        stored = session.get(Credential, credential)
        assert stored is not None and stored.rate_limited_until is not None
        until: datetime = stored.rate_limited_until
    assert until >= throttled[0].at + timedelta(seconds=5.9)
    # And no post of the credential called the provider after the 429 before that time
    creates = _creates(pipeline, token)
    after_429 = [c for c in creates if c.at > throttled[0].at]
    early = [(c.at, c.body) for c in after_429 if c.at < until]
    assert early == [], f"called before the reset at {until}: {early}"
    # And all of them went out after it, once each, with no attempt spent on the hold
    assert all(post.state == "done" for post in posts.values()), posts
    assert posts[limited].attempts == 2
    assert [posts[post_id].attempts for post_id in held] == [1, 1, 1]
    assert len(creates) == 2 + len(held)  # the 429, the limited post's retry, one each
    assert pipeline.sandbox.duplicates() == []


def test_a_credential_never_has_more_calls_in_flight_than_it_allows(pipeline: Pipeline) -> None:
    # Given a slow provider (every call takes 0.5 s) and two worker processes with two
    # slots each, so calls would overlap if nothing stopped them
    pipeline.sandbox.latency_seconds = 0.5
    account = pipeline.account()
    one_token, two_token = f"tok-one-{account}", f"tok-two-{account}"
    one = pipeline.credential(account, token=one_token)  # PUBLISHER_CREDENTIAL_CONCURRENCY: 1
    two = pipeline.credential(account, token=two_token, max_in_flight=2)
    # When a burst of each credential's posts falls due at once
    texts = _burst(pipeline, account, one, 8)
    texts |= _burst(pipeline, account, two, 6)
    posts = pipeline.wait_final(texts, timeout=120)

    # Then no two creates of the first credential were ever in flight together, nor more
    # than two of the second
    assert pipeline.sandbox.max_in_flight("POST", MASTODON_CREATE, one_token) == 1
    assert pipeline.sandbox.max_in_flight("POST", MASTODON_CREATE, two_token) <= 2
    # And every post was published exactly once, none of them spending an attempt on
    # waiting for a slot
    assert all(post.state == "done" for post in posts.values()), posts
    assert [post.attempts for post in posts.values()] == [1] * len(posts)
    assert sorted(pipeline.sandbox.creates_by_text().values()) == [1] * len(posts)
    assert {pipeline.sandbox.ids_for(text)[0] for text in texts.values()} == {
        post.external_id for post in posts.values()
    }
    # And the limit did have to hold some posts back (the test could have seen overlap)
    with pipeline.sessions() as session:
        waited = session.scalars(
            select(PostEvent.post_id).where(
                PostEvent.post_id.in_(list(texts)), PostEvent.reason == "credential busy"
            )
        ).all()
    assert waited, "no post ever found its credential busy: the burst did not overlap"


def _burst(pipeline: Pipeline, account: int, credential: int, count: int) -> dict[int, str]:
    texts = [f"burst {credential} {n}" for n in range(count)]
    return {pipeline.post(account, credential, text): text for text in texts}


class HoldsThenGrants:
    """A limiter whose slot's last holder, just before this worker takes the slot, met a
    429 and recorded the credential's hold (after this worker's claim read the
    credential), then gave the slot back, as another process would."""

    def __init__(self, until: datetime) -> None:
        self.until = until
        self.slots = LocalLimiter()

    def acquire(
        self, credential_id: int, limit: int, holder: str, lease: float
    ) -> Slot | Held | None:
        self.slots.hold(credential_id, self.until)
        return self.slots.acquire(credential_id, limit, holder, lease)

    def hold(self, credential_id: int, until: datetime) -> None:
        self.slots.hold(credential_id, until)

    def renew(self, slot: Slot, lease: float) -> bool:
        return self.slots.renew(slot, lease)

    def release(self, slot: Slot) -> None:
        self.slots.release(slot)


def _due_post(
    sessions: sessionmaker[Session], settings: Settings, url: str, text: str = "due"
) -> tuple[int, int]:
    with sessions.begin() as session:
        account = service.create_account(session, "limits")
        credential = service.add_credential(
            session, token_box(settings), account.id, "mastodon", url, "tok-limits"
        )
        post_id = service.create_post(session, account.id, credential.id, text).id
        service.approve(session, post_id, utcnow())
        return credential.id, post_id


def _deps(
    settings: Settings, sessions: sessionmaker[Session], limiter: Limiter, sent: list[int]
) -> Dependencies:
    local = replace(settings, allow_private_urls=True)  # the stand-in is on 127.0.0.1
    return Dependencies(
        local,
        sessions,
        token_box(local),
        exchange.new_session(),
        lambda post, countdown: sent.append(post),
        limiter=limiter,
    )


def test_a_post_without_a_slot_is_released_and_sent_again_soon(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with Sandbox() as sandbox:
        # Given a due post whose credential's only slot is taken
        credential, post_id = _due_post(sessions, settings, sandbox.url)
        limiter = LocalLimiter()
        assert limiter.acquire(credential, 1, "another worker", 60) is not None
        sent: list[int] = []
        before = utcnow()
        # When a worker takes its message
        result = worker.process(post_id, _deps(settings, sessions, limiter, sent))
        # Then it makes no call and hands the post back, attempt refunded, due in 1-2 s
        assert result is worker.Result.RELEASED and sandbox.calls == []
        with sessions() as session:
            post = session.get(Post, post_id)
            assert post is not None and (post.state, post.attempts) == ("retry", 0)
            assert post.next_run_at is not None
            assert before + timedelta(seconds=1) <= post.next_run_at
            assert post.next_run_at <= utcnow() + timedelta(seconds=2)
        # And its message is sent again at once (with a countdown), not left to the sweep
        assert sent == [post_id]
        # And once the slot is free it is published
        limiter = LocalLimiter()
        with sessions.begin() as session:
            session.execute(update(Post).where(Post.id == post_id).values(next_run_at=utcnow()))
        assert worker.process(post_id, _deps(settings, sessions, limiter, sent)).value == "done"
        assert sandbox.create_count(text="due") == 1


def test_a_hold_recorded_while_waiting_for_the_slot_is_seen_before_the_call(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    until = utcnow() + timedelta(minutes=5)
    limiter = HoldsThenGrants(until)
    with Sandbox() as sandbox:
        # Given a due post whose claim saw no hold on its credential
        credential, post_id = _due_post(sessions, settings, sandbox.url)
        deps = _deps(settings, sessions, limiter, [])
        # When the slot it gets was last held by a call that met a 429
        result = worker.process(post_id, deps)
        # Then it makes no call, and waits for the reset with its attempt refunded
        assert result is worker.Result.RELEASED
        assert sandbox.calls == []
        with sessions() as session:
            post = session.get(Post, post_id)
            assert post is not None
            assert (post.state, post.attempts, post.next_run_at) == ("retry", 0, until)
        # And no slot was taken (the credential is held; none to give back)
        assert limiter.slots.acquire(credential, 1, "next", 60) == Held(until)


def test_a_429_is_shared_with_whoever_takes_the_slot_next(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with Sandbox() as sandbox:
        # Given a due post whose provider answers 429, asking to wait 60 s
        sandbox.throttle_seconds = 60
        credential_id, post_id = _due_post(sessions, settings, sandbox.url, "[[fault:429]] x")
        limiter = LocalLimiter()
        # When a worker publishes it
        assert worker.process(post_id, _deps(settings, sessions, limiter, [])).value == "deferred"
        # Then the next slot taker on the credential is told to wait for the reset
        taken = limiter.acquire(credential_id, 1, "next", 60)
        assert isinstance(taken, Held), taken
        assert taken.until >= utcnow() + timedelta(seconds=55)
