"""Meta Graph's usage headers as a "not before" time, read beside ``Retry-After`` and the
rate-limit reset headers (``backoff.earliest_from_headers``).

Graph sends no ``Retry-After``. It reports usage as JSON in ``X-App-Usage`` and
``X-Page-Usage`` (``{"call_count", "total_cputime", "total_time"}``: percentages of the
limit) and ``X-Business-Use-Case-Usage`` (``{"<id>": [{"type", "call_count",
"total_cputime", "total_time", "estimated_time_to_regain_access"}]}``, the time in
minutes), per https://developers.facebook.com/docs/graph-api/overview/rate-limiting.
Calls fail once any percentage reaches 100 until usage falls again.

So: an ``estimated_time_to_regain_access`` above zero is a time to wait; a percentage at
or above ``NEAR_FULL`` without one holds for ``NEAR_FULL_WAIT``. Pure; never raises on
junk values (an unreadable header is no hint).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

# The headers, lower-cased as ``earliest_from_headers`` reads them.
USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-ad-account-usage")
BUC_HEADER = "x-business-use-case-usage"
PERCENTAGES = ("call_count", "total_cputime", "total_time")
REGAIN = "estimated_time_to_regain_access"  # minutes
# Graph throttles at 100%; at 95% a few more calls would reach it, so slow down first.
NEAR_FULL = 95.0
# Graph's windows roll (an hour for an app, a day for a Page's business use case), so
# usage falls as old calls age out; a minute between calls near the limit lets it fall
# without parking the Page for the whole window.
NEAR_FULL_WAIT = timedelta(minutes=1)


def not_before(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """The earliest time Graph's usage headers allow the next call (``headers`` with
    lower-case names); None when they say nothing or usage is below ``NEAR_FULL``."""
    waits = [_wait(usage) for usage in _usages(headers)]
    found = [wait for wait in waits if wait is not None]
    return now + max(found) if found else None


def _usages(headers: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
    """Every usage object the headers carry."""
    for name in USAGE_HEADERS:
        parsed = _json(headers.get(name))
        if isinstance(parsed, Mapping):
            yield parsed
    by_business = _json(headers.get(BUC_HEADER))
    if isinstance(by_business, Mapping):
        for entries in by_business.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, Mapping):
                    yield entry


def _wait(usage: Mapping[str, Any]) -> timedelta | None:
    regain = _number(usage.get(REGAIN))
    if regain is not None and regain > 0:
        return timedelta(minutes=regain)
    percentages = [_number(usage.get(name)) for name in PERCENTAGES]
    if any(p is not None and p >= NEAR_FULL for p in percentages):
        return NEAR_FULL_WAIT
    return None


def _json(value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) < 1e9 else None  # NaN, overflow
