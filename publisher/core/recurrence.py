"""When a recurring post fires next.

A recurrence is a 5-field crontab expression read as wall-clock time in an IANA time
zone ("09:00 every Monday in Europe/Berlin" stays 09:00 local across DST changes). The
expression is iterated over naive local times and each candidate is then placed in the
zone, so a DST change neither skips nor doubles an occurrence:

* a wall time that does not exist (spring-forward gap) is shifted forward by the gap:
  02:30 on the night clocks jump from 02:00 to 03:00 fires at 03:30 local;
* a wall time that happens twice (fall-back) fires once, at the first (``fold=0``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from publisher.errors import InvalidInput

CRON_FIELDS = 5  # minute hour day-of-month month day-of-week; no seconds, no @macros

# A fall-back repeats at most one hour; at one candidate per minute, 24 hours of
# candidates is far more than any expression can need to leave a repeated hour.
MAX_SKIPPED = 24 * 60

# Any fixed start works for checking that an expression ever fires.
_PROBE_START = datetime(2000, 1, 1)


def validate(expression: str, tz: str) -> None:
    """Returns when ``expression`` is a 5-field crontab that fires and ``tz`` an IANA zone.

    Raises ``InvalidInput("recurrence", ...)`` or ``InvalidInput("timezone", ...)``.
    """
    _zone(tz)
    if len(expression.split()) != CRON_FIELDS or not croniter.is_valid(expression):
        raise InvalidInput(
            "recurrence", f"invalid crontab expression {expression!r}; expected 5 fields"
        )
    try:
        croniter(expression, _PROBE_START).get_next(datetime)
    except CroniterError as exc:
        raise InvalidInput("recurrence", f"crontab expression {expression!r} never fires") from exc


def next_occurrence(expression: str, tz: str, after: datetime) -> datetime:
    """The next occurrence strictly after the aware ``after``, as an aware UTC datetime.

    Raises ``InvalidInput`` like ``validate`` and ValueError for a naive ``after``.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be timezone-aware")
    validate(expression, tz)
    zone = _zone(tz)
    after_utc = after.astimezone(UTC)
    local_start = after_utc.astimezone(zone).replace(tzinfo=None)
    candidates = croniter(expression, local_start)
    for _ in range(MAX_SKIPPED):
        wall: datetime = candidates.get_next(datetime)
        # fold=0: a repeated time is its first instant, a missing one lands past the gap.
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        # Inside a repeated hour, the first instant of a later wall time can be earlier.
        if instant > after_utc:
            return instant
    raise RuntimeError(f"no occurrence of {expression!r} in {tz} after {after.isoformat()}")


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("timezone", f"unknown time zone {tz!r}") from exc
