"""The call log: one ``api_calls`` row per attempt against a provider.

The row is written *before* the call (category ``in_flight``) and completed after it, so
an attempt whose worker died mid-call is still on record (the sweep marks it
``abandoned``). Headers and bodies are redacted (by name, and by value with the job's
``Redactor``) and size-bounded on the way in; so are URLs and error messages.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Engine, bindparam, insert, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import redact
from publisher.core.constants import (
    ABANDONED,
    AMBIGUOUS,
    CALL_LOG_BODY_LIMIT,
    CRASHED,
    IN_FLIGHT,
    LOOKUP_FAILED,
    LOOKUP_METHOD,
    NOT_FOUND,
    RECONCILED,
)
from publisher.core.db import Executor, transaction
from publisher.core.models import API_CALLS, ApiCall
from publisher.engine.classify import Outcome
from publisher.engine.exchange import Exchange
from publisher.engine.lock import Job
from publisher.providers.base import PreparedCall

# The url column's size: a longer URL (a credential stored before its base_url was bounded)
# is cut rather than failing the attempt's first write.
URL_LIMIT: int = getattr(ApiCall.__table__.c.url.type, "length", None) or 2_000


# Built once (the hot path's two writes): the columns come from the parameters' keys.
_INSERT = insert(API_CALLS).returning(API_CALLS.c.id)
_FINISH = update(API_CALLS).where(API_CALLS.c.id == bindparam("call_id"))


def _request_body(call: PreparedCall) -> bytes | str | None:
    if call.data is not None:  # a media upload's megabytes: only what the log keeps
        return call.data[: CALL_LOG_BODY_LIMIT * 4]
    if call.json is None:
        return None
    return json.dumps(call.json)


def insert_start(
    executor: Executor,
    job: Job,
    call: PreparedCall,
    secrets: redact.Redactor,
    now: datetime,
    step: str | None = None,
) -> int:
    """Record, in the caller's transaction, that ``job.attempt`` is about to call (for
    ``step`` of a multi-step publish)."""
    row = {
        "post_id": job.post_id,
        "attempt": job.attempt,
        "provider": job.provider,
        "method": call.method,
        "url": redact.text(call.url, secrets)[:URL_LIMIT],
        "request_headers": redact.headers(call.headers, secrets),
        "request_body": redact.body(_request_body(call), secrets),
        "response_headers": {},
        "category": IN_FLIGHT,
        "started_at": now,
        "step": step,
    }
    return int(executor.execute(_INSERT, row).scalar_one())


def start(
    engine: Engine,
    job: Job,
    call: PreparedCall,
    secrets: redact.Redactor,
    now: datetime,
    step: str | None = None,
) -> int:
    """``insert_start`` in a transaction of its own; returns the row id."""
    with engine.begin() as connection:
        return insert_start(connection, job, call, secrets, now, step)


def finish(
    executor: Executor,
    call_id: int,
    exchange: Exchange,
    outcome: Outcome,
    secrets: redact.Redactor,
    now: datetime,
) -> None:
    row = {
        "call_id": call_id,
        "status_code": exchange.status,
        "response_headers": redact.headers(exchange.headers, secrets),
        "response_body": redact.body(exchange.body, secrets),
        "duration_ms": round(exchange.duration_ms, 3),
        "category": outcome.category.value + (AMBIGUOUS if outcome.ambiguous else ""),
        "error": redact.text(exchange.error, secrets) if exchange.error else None,
        "finished_at": now,
    }
    executor.execute(_FINISH, row)


def lookup(
    sessions: sessionmaker[Session],
    job: Job,
    found: bool | None,
    error: str | None,
    duration_ms: float,
    started: datetime,
    now: datetime,
) -> None:
    """Record a reconciliation (the provider searched for an ambiguous attempt's post).

    ``found`` is None when the lookup failed or the provider offers none. The URL and
    the error are scrubbed with the job's active ``Redactor`` (a provider's error may
    echo the token).
    """
    secrets = redact.active()
    category = {True: RECONCILED, False: NOT_FOUND, None: LOOKUP_FAILED}[found]
    with transaction(sessions) as session:
        session.add(
            ApiCall(
                post_id=job.post_id,
                attempt=job.attempt,
                provider=job.provider,
                method=LOOKUP_METHOD,
                url=redact.text(job.base_url, secrets)[:URL_LIMIT],
                category=category,
                error=None if error is None else redact.text(error, secrets),
                duration_ms=round(duration_ms, 3),
                started_at=started,
                finished_at=now,
            )
        )


def close_in_flight(
    executor: Executor, post_id: int, attempt: int, error: str, now: datetime
) -> None:
    """End this attempt's unfinished call row: the worker failed before recording it."""
    executor.execute(
        update(ApiCall)
        .where(
            ApiCall.post_id == post_id, ApiCall.attempt == attempt, ApiCall.category == IN_FLIGHT
        )
        .values(category=CRASHED, error=redact.text(error, redact.active())[:2000], finished_at=now)
    )


def not_sent(executor: Executor, call_id: int, why: str, now: datetime) -> None:
    """End call row ``call_id`` whose request was never sent (the lease was lost first)."""
    executor.execute(
        update(ApiCall)
        .where(ApiCall.id == call_id, ApiCall.category == IN_FLIGHT)
        .values(category=ABANDONED, error=redact.text(why, redact.active()), finished_at=now)
    )


def abandon(session: Session, post_id: int, now: datetime) -> None:
    """Mark a dead worker's unfinished call rows for ``post_id``."""
    session.execute(
        update(ApiCall)
        .where(ApiCall.post_id == post_id, ApiCall.category == IN_FLIGHT)
        .values(
            category=ABANDONED,
            error="the worker stopped before recording a result",
            finished_at=now,
        )
    )
