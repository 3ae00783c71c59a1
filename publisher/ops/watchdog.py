"""The watchdog (cron, every minute): is the recurring sweep still there and running?

Four facts, with ages measured on the database's clock (not the host's): the sweep's
entry exists in the beat scheduler's storage (redbeat, in Redis); the last sweep heartbeat
is younger than three sweep intervals; the oldest post that is due but not started; and
the credentials whose token the configured keys cannot decrypt (their posts wait).
``repair`` restores the schedule entry and runs one sweep directly, so due posts go out
even while beat is down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core import control, db, liveness
from publisher.core.models import Credential
from publisher.core.settings import Settings, safe_url
from publisher.core.tokens import TokenBox, token_box
from publisher.errors import TokenError

HEARTBEAT_INTERVALS = 3  # a heartbeat older than this many sweep intervals is a dead beat
NAMED_CREDENTIALS = 10  # undecryptable credentials named in the problem line; the rest counted


@dataclass(frozen=True)
class Health:
    healthy: bool
    schedule_entry: bool | None  # None: Redis could not be asked
    heartbeat_age: float | None  # seconds; None: no sweep ever ran
    heartbeat_limit: float
    oldest_due_age: float | None  # seconds a due post has waited; None: nothing due
    oldest_due_limit: float
    paused: bool
    problems: list[str] = field(default_factory=list)
    undecryptable: list[int] = field(default_factory=list)  # credential ids

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        def age(value: float | None) -> str:
            return "never" if value is None else f"{value:.1f}s"

        state = "healthy" if self.healthy else "UNHEALTHY"
        return (
            f"publisher watchdog: {state}; schedule entry "
            f"{'present' if self.schedule_entry else 'MISSING'}; last sweep "
            f"{age(self.heartbeat_age)} ago; oldest due post waiting "
            f"{age(self.oldest_due_age) if self.oldest_due_age is not None else 'none'}"
            f"{'; publishing PAUSED by the operator' if self.paused else ''}"
        )


def _undecryptable(session: Session, box: TokenBox) -> list[int]:
    """Ids of the credentials whose token (or refresh token, client secret or app
    password) no configured key decrypts."""
    found = []
    for credential_id, *stored in session.execute(
        select(
            Credential.id,
            Credential.token_encrypted,
            Credential.refresh_token_encrypted,
            Credential.client_secret_encrypted,
            Credential.app_password_encrypted,
        ).order_by(Credential.id)
    ):
        try:
            for secret in stored:
                if secret is not None:
                    box.decrypt(secret)
        except TokenError:
            found.append(credential_id)
    return found


def _schedule_entry_exists(settings: Settings) -> bool | None:
    import redis

    from publisher.ops.celery_app import SWEEP_ENTRY, app

    key = app.conf.redbeat_key_prefix + SWEEP_ENTRY
    try:
        client = redis.Redis.from_url(settings.redis_client_url, socket_timeout=5)
        return bool(client.hexists(key, "definition"))
    except redis.RedisError:
        return None


def check(settings: Settings) -> Health:
    """Measure; never raises for an unhealthy pipeline (that is the answer)."""
    engine = db.make_engine(settings.database_url)
    try:
        with db.make_sessionmaker(engine)() as session:
            now = liveness.db_now(session)
            heartbeat_age = liveness.heartbeat_age(session, now)
            oldest = liveness.oldest_due_age(session, now)
            paused = control.is_paused(session)
            undecryptable = _undecryptable(session, token_box(settings))
    finally:
        engine.dispose()
    entry = _schedule_entry_exists(settings)
    heartbeat_limit = HEARTBEAT_INTERVALS * settings.sweep_interval
    due_limit = settings.watchdog_due_limit
    problems = []
    if entry is None:
        problems.append(f"Redis at {safe_url(settings.redis_client_url)} did not answer")
    elif not entry:
        problems.append("the sweep's schedule entry is missing from the beat scheduler")
    if heartbeat_age is None:
        problems.append("no sweep has ever run")
    elif heartbeat_age > heartbeat_limit:
        problems.append(
            f"the last sweep ran {heartbeat_age:.0f}s ago "
            f"(limit {heartbeat_limit:.0f}s): is beat running?"
        )
    if oldest is not None and oldest > due_limit and not paused:
        problems.append(
            f"a due post has waited {oldest:.0f}s (limit {due_limit:.0f}s): are workers running?"
        )
    if undecryptable:
        named = ", ".join(str(i) for i in undecryptable[:NAMED_CREDENTIALS])
        more = len(undecryptable) - NAMED_CREDENTIALS
        problems.append(
            f"{len(undecryptable)} credential(s) cannot be decrypted with PUBLISHER_SECRET_KEY "
            f"(ids {named}{f' and {more} more' if more > 0 else ''}): their posts wait; "
            "restore the key that encrypted them"
        )
    return Health(
        not problems,
        entry,
        heartbeat_age,
        heartbeat_limit,
        oldest,
        due_limit,
        paused,
        problems,
        undecryptable,
    )


def restore_schedule() -> None:
    """Write the sweep's entry back into redbeat's storage."""
    from redbeat import RedBeatSchedulerEntry

    from publisher.ops.celery_app import SWEEP_ENTRY, app

    spec = app.conf.beat_schedule[SWEEP_ENTRY]
    RedBeatSchedulerEntry(SWEEP_ENTRY, spec["task"], spec["schedule"], app=app).save()


def alert(settings: Settings, health: Health) -> None:
    """Tell Sentry (when configured) that the pipeline is unhealthy."""
    from publisher.engine.telemetry import sentry

    if sentry.init(settings):
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            scope.set_context("watchdog", health.as_dict())
            scope.fingerprint = ["publisher-watchdog"]
            sentry_sdk.capture_message(
                "publisher watchdog: " + "; ".join(health.problems), level="error"
            )
        sentry_sdk.flush(timeout=5)
