"""Fast bulk loading of posts, bypassing the Python API where volume demands it.

Benchmarks need thousands of due posts or a million finished ones. Rows are written with
PostgreSQL's ``COPY`` or SQLite's ``executemany`` on the raw driver connection, every
column given explicitly (no ORM defaults run), and come back as their new ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session, sessionmaker

COLUMNS = (
    "account_id",
    "credential_id",
    "text",
    "options",
    "state",
    "scheduled_at",
    "next_run_at",
    "attempts",
    "idempotency_key",
    "first_started_at",
    "ambiguous",
    "external_id",
    "published_at",
    "version",
    "created_at",
    "updated_at",
)
CHUNK = 20_000  # rows per executemany / COPY batch: bounded memory, few round trips
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite


@dataclass(frozen=True)
class Owner:
    account_id: int
    credential_id: int


def due_rows(
    owner: Owner, times: Sequence[datetime], state: str = "approved", label: str = "bench"
) -> Iterator[tuple[Any, ...]]:
    """Posts in ``state`` (approved, or draft to approve later) due at ``times``."""
    now = datetime.now(UTC)
    for i, when in enumerate(times):
        next_run = when if state in ("approved", "retry") else None
        yield (
            owner.account_id,
            owner.credential_id,
            f"{label} {i}",
            "{}",
            state,
            when,
            next_run,
            0,
            uuid.uuid4().hex,
            None,
            False,
            None,
            None,
            1,
            now,
            now,
        )


def done_rows(owner: Owner, count: int, label: str = "old") -> Iterator[tuple[Any, ...]]:
    """Published posts spread over the past year, as a long-running system accumulates."""
    now = datetime.now(UTC)
    for i in range(count):
        when = now - timedelta(seconds=60 + (i * 31_536_000 // max(count, 1)))
        yield (
            owner.account_id,
            owner.credential_id,
            f"{label} {i}",
            "{}",
            "done",
            when,
            None,
            1,
            uuid.uuid4().hex,
            when,
            False,
            f"ext-{i}",
            when,
            3,
            when,
            when,
        )


def bulk_insert(engine: Engine, rows: Iterable[tuple[Any, ...]]) -> list[int]:
    """Insert ``rows`` (in ``COLUMNS`` order) and return their ids, in insertion order."""
    with engine.connect() as connection:
        before = connection.execute(text("SELECT coalesce(max(id), 0) FROM posts")).scalar_one()
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            _copy(raw, rows)
        else:
            _executemany(raw, rows)
        raw.commit()
    finally:
        raw.close()
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT id FROM posts WHERE id > :before ORDER BY id"), {"before": before}
        )
        return [row[0] for row in found]


def approve_at(sessions: sessionmaker[Session], span: tuple[int, int], due: datetime) -> None:
    """Approve the drafts in ``span`` (``id_range``), every one due at ``due``: a burst."""
    from publisher.core.models import Post

    with sessions.begin() as session:
        session.execute(
            update(Post)
            .where(Post.id.between(*span))
            .values(state="approved", scheduled_at=due, next_run_at=due, version=Post.version + 1)
        )


def id_range(ids: Sequence[int]) -> tuple[int, int]:
    """First and last of ``bulk_insert``'s ids, which are consecutive: cheap to filter on."""
    assert list(ids) == list(range(ids[0], ids[-1] + 1)), "ids are not consecutive"
    return ids[0], ids[-1]


def _copy(raw: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    statement = f"COPY posts ({', '.join(COLUMNS)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _executemany(raw: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" for _ in COLUMNS)
    statement = f"INSERT INTO posts ({', '.join(COLUMNS)}) VALUES ({marks})"
    cursor = raw.cursor()
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        cursor.executemany(statement, [tuple(_sqlite(v) for v in row) for row in chunk])
    cursor.close()


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(SQLITE_TIME)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return value
