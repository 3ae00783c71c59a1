"""A chart's time window: [start, end) cut into equal buckets, and the SQL that puts a
timestamp into its bucket on SQLite and PostgreSQL alike.

A bucket is counted in whole seconds from ``start`` (which has no fraction of a second),
so a row at exactly a bucket's edge belongs to the later bucket on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func

from publisher.core.db import Executor, is_postgresql
from publisher.errors import InvalidInput

MINUTE = timedelta(minutes=1)  # the default bucket: an hour's chart has 60 points
# The most buckets one chart asks for: more points than a screen has pixels across.
MAX_BUCKETS = 2_000


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    bucket: timedelta = MINUTE

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInput("start", "the window's times must carry a timezone")
        if self.start.microsecond:
            raise InvalidInput("start", "the window must start on a whole second")
        if self.end <= self.start:
            raise InvalidInput("end", "the window must end after it starts")
        seconds = self.bucket.total_seconds()
        if seconds < 1 or seconds != int(seconds):
            raise InvalidInput("bucket", "the bucket must be a whole number of seconds")
        if self.buckets > MAX_BUCKETS:
            raise InvalidInput("bucket", f"at most {MAX_BUCKETS} buckets: choose a coarser one")

    @classmethod
    def last(cls, now: datetime, span: timedelta, bucket: timedelta = MINUTE) -> Window:
        """The ``span`` before ``now``, its end rounded up to a whole bucket (so the
        current bucket is the last one, partly filled)."""
        size = int(bucket.total_seconds())
        end_epoch = (int(now.timestamp()) // size + 1) * size
        end = datetime.fromtimestamp(end_epoch, now.tzinfo)
        return cls(end - span, end, bucket)

    @property
    def size(self) -> int:
        """The bucket's length in seconds."""
        return int(self.bucket.total_seconds())

    @property
    def buckets(self) -> int:
        """How many buckets cover the window (the last may reach past ``end``)."""
        return -(-int((self.end - self.start).total_seconds()) // self.size)

    def starts(self) -> list[datetime]:
        """Every bucket's start, in order."""
        return [self.start + i * self.bucket for i in range(self.buckets)]

    def at(self, index: int) -> datetime:
        """The start of bucket ``index``."""
        return self.start + index * self.bucket

    def index_of(self, moment: datetime) -> int:
        """The bucket ``moment`` (inside the window) falls in."""
        return int((moment - self.start).total_seconds()) // self.size

    def contains(self, column: Any) -> ColumnElement[bool]:
        """``column`` in [start, end)."""
        clause: ColumnElement[bool] = (column >= self.start) & (column < self.end)
        return clause

    def bucket_of(self, executor: Executor, column: Any) -> ColumnElement[int]:
        """The SQL index of ``column``'s bucket: whole seconds since ``start`` over the
        bucket's size, rounded down (PostgreSQL's epoch is exact; SQLite's ``%s`` drops
        the fraction, which never moves a time across a whole-second edge)."""
        start = int(self.start.timestamp())
        if is_postgresql(executor):
            seconds = func.extract("epoch", column) - start
            return cast(func.floor(seconds / self.size), Integer)
        return (cast(func.strftime("%s", column), Integer) - start) // self.size
