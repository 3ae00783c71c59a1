"""Health at a glance (``core.dashboard.health``) on SQLite and PostgreSQL: the last
sweep, switches with who and when, queue depth from a real Redis, workers, the oldest due
post, counts by state, posts late now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import redis
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control
from publisher.core.dashboard import health
from publisher.core.dashboard.health import BrokerQueue, WorkerSeen
from publisher.core.dashboard.switches import Scope
from publisher.core.models import Account, Credential, utcnow
from tests.support.dashboard_rows import credential, post

QUEUE = "publisher"


@dataclass(frozen=True)
class Verdict:
    healthy: bool = False
    schedule_entry: bool | None = True
    problems: list[str] = field(default_factory=lambda: ["a due post has waited"])


def _seed(session: Session) -> dict[str, int]:
    now = utcnow()
    mastodon, x = credential(session, "mastodon"), credential(session, "x")
    control.write(session, control.HEARTBEAT, {"sent": 3}, now - timedelta(seconds=30))
    control.set_paused(session, True, now, by="alice")
    control.set_provider_paused(session, "x", True, now, by="bob")
    control.set_credential_paused(session, x, True, now, by="carol")
    paused = session.get(Credential, mastodon)
    assert paused is not None
    account = session.get(Account, paused.account_id)
    assert account is not None
    account.paused = True
    ids = {
        "x": x,
        "account": account.id,
        "late": post(session, mastodon, state="approved", next_run_at=now - timedelta(hours=1)),
        "due": post(session, x, state="retry", next_run_at=now - timedelta(seconds=5)),
    }
    post(session, x, state="approved", next_run_at=now + timedelta(hours=1))  # not due
    for owner in ("w1", "w1", "w2"):
        post(
            session,
            mastodon,
            state="running",
            lease_owner=owner,
            lease_expires_at=now,
            next_run_at=now,
        )
    for _ in range(3):
        post(session, x, state="done")
    session.flush()
    return ids


def test_health_reads_every_fact(sessions: sessionmaker[Session], client: redis.Redis) -> None:
    # Given a pipeline with a sweep 30 s ago, switches, due, running and done posts
    with sessions.begin() as session:
        ids = _seed(session)
    client.rpush(QUEUE, "m1", "m2", "m3")
    verdict = Verdict()
    # When health is read
    with sessions() as session:
        found = health.health(session, watchdog=verdict, broker=BrokerQueue(client, QUEUE))
    # Then
    assert found.last_sweep == {"sent": 3}
    assert found.last_sweep_age is not None and 25 < found.last_sweep_age < 600
    assert found.watchdog is verdict
    assert [(s.scope, s.target, s.by) for s in found.switches] == [
        (Scope.GLOBAL, None, "alice"),
        (Scope.PROVIDER, "x", "bob"),
        (Scope.CREDENTIAL, str(ids["x"]), "carol"),
        (Scope.ACCOUNT, str(ids["account"]), None),
    ]
    assert all(s.at is not None for s in found.switches[:3])
    assert found.queue_depth == 3
    assert found.workers == (WorkerSeen("w1", 2), WorkerSeen("w2", 1))
    assert found.oldest_due_age is not None and 3_500 < found.oldest_due_age < 4_000
    assert found.counts == {"approved": 2, "retry": 1, "running": 3, "done": 3}
    assert found.late_now == 1


def test_an_empty_pipeline_and_an_unreachable_broker(sessions: sessionmaker[Session]) -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=1)
    with sessions() as session:
        found = health.health(session, broker=BrokerQueue(dead, QUEUE))
    assert found.last_sweep_at is None and found.last_sweep_age is None
    assert found.switches == () and found.workers == ()
    assert found.queue_depth is None
    assert found.oldest_due_at is None and found.counts == {} and found.late_now == 0
