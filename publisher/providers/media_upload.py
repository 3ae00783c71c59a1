"""What a network said about one media upload, as values the engine acts on.

Networks process media after taking it (Mastodon transcodes, X checks video and GIFs):
an upload answers with an id and whether the file is ready, and polling answers again
until it is ready or failed. A post may name the media only once it is ready.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Processing(enum.StrEnum):
    READY = "ready"  # the post may carry it now
    PROCESSING = "processing"  # poll again (after ``check_after`` seconds when given)
    FAILED = "failed"  # the network cannot use this file: the post cannot go as it is


@dataclass(frozen=True)
class Uploaded:
    media_id: str
    state: Processing
    check_after: float | None = None  # the network's hint for the next poll (s)
    message: str | None = None  # why it failed, when it says

    @property
    def ready(self) -> bool:
        return self.state is Processing.READY
