"""The windows the charts page offers: a name in the URL (``?window=6h``) for a span
before now and a bucket size that keeps every chart at 60 to 100 points (readable on a
phone, one cheap query a chart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.core.dashboard.window import Window
from publisher.errors import InvalidInput


@dataclass(frozen=True)
class WindowChoice:
    name: str  # as in the URL
    label: str  # as in the window menu
    span: timedelta
    bucket: timedelta

    @property
    def bucket_text(self) -> str:
        """The bucket's length as the page says it ("5 min", "2 h")."""
        minutes = int(self.bucket.total_seconds()) // 60
        return f"{minutes // 60} h" if minutes >= 60 else f"{minutes} min"

    def window(self, now: datetime) -> Window:
        """The ``span`` before ``now``, in buckets (the current one last, partly filled)."""
        return Window.last(now, self.span, self.bucket)


MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
CHOICES: tuple[WindowChoice, ...] = (
    WindowChoice("1h", "Last hour", HOUR, MINUTE),  # 60 points
    WindowChoice("6h", "Last 6 hours", 6 * HOUR, 5 * MINUTE),  # 72 points
    WindowChoice("24h", "Last 24 hours", 24 * HOUR, 15 * MINUTE),  # 96 points
    WindowChoice("3d", "Last 3 days", 72 * HOUR, HOUR),  # 72 points
    WindowChoice("7d", "Last 7 days", 168 * HOUR, 2 * HOUR),  # 84 points
)
DEFAULT = CHOICES[0]  # the last hour: what an operator asks first
BY_NAME = {choice.name: choice for choice in CHOICES}


def choose(name: str | None) -> WindowChoice:
    """The window ``name`` names (None or empty: the default); ``InvalidInput`` naming
    the ``window`` parameter for anything else."""
    if not name:
        return DEFAULT
    found = BY_NAME.get(name)
    if found is None:
        names = ", ".join(BY_NAME)
        raise InvalidInput("window", f"window must be one of {names}, not {name[:20]!r}")
    return found
