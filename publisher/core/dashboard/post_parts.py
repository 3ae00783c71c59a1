"""A post's parts as its page shows them: each part's text, its media (alt text, and how
far the upload got) and the steps confirmed for it (``post_steps``: the part created,
its media uploaded, a container made), from what ``timeline`` read. Pure: no query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from publisher.core.dashboard.timeline import MediaEntry, StepEntry, Timeline

# A step's key names its part: "p2" part 3 created, "p2.c" its container, "p2.m0" and
# "p2.m0.alt" its first file uploaded and described.
_STEP_PART = re.compile(r"^p(\d+)(?:\.|$)")


@dataclass(frozen=True)
class MediaView:
    media: MediaEntry
    index: int  # its place in the part (0-based)
    state: str  # uploaded, processing, sent with the post, not uploaded yet
    external_id: str | None  # the provider's id once uploaded


@dataclass(frozen=True)
class PartView:
    index: int  # 0-based
    text: str
    external_id: str | None  # the provider's id of the part once created
    external_url: str | None
    media: tuple[MediaView, ...]
    steps: tuple[StepEntry, ...]  # confirmed, oldest first


def _part_of(step: StepEntry) -> int | None:
    found = _STEP_PART.match(step.key)
    return int(found.group(1)) if found else None


def _media_state(step: StepEntry | None, published: bool) -> str:
    if step is not None:
        return "uploaded" if step.ready else "processing"
    # A provider that takes files by URL uploads nothing apart: the post carried them.
    return "sent with the post" if published else "not uploaded yet"


def _media(
    index: int, found: tuple[MediaEntry, ...], steps: dict[str, StepEntry], published: bool
) -> tuple[MediaView, ...]:
    mine = [m for m in found if m.part == index]
    views = []
    for place, entry in enumerate(mine):
        step = steps.get(f"p{index}.m{place}")
        state = _media_state(step, published)
        views.append(MediaView(entry, place, state, step.external_id if step else None))
    return tuple(views)


def parts(
    found: Timeline, text: str, external_id: str | None, external_url: str | None
) -> tuple[PartView, ...]:
    """Every part in order; a one-part post (no ``parts`` stored) is its ``text``. Part 1's
    remote id is the post's own once done (a one-step publish confirms no step)."""
    stored = [str(part["text"]) for part in found.parts] or [text]
    by_key = {step.key: step for step in found.steps}
    published = found.state == "done"
    views = []
    for index, part_text in enumerate(stored):
        own = [s for s in found.steps if _part_of(s) == index]
        created = by_key.get(f"p{index}")
        remote_id, remote_url = (
            (created.external_id, created.external_url) if created else (None, None)
        )
        if index == 0 and external_id is not None:
            remote_id, remote_url = external_id, external_url
        media = _media(index, found.media, by_key, published)
        views.append(PartView(index, part_text, remote_id, remote_url, media, tuple(own)))
    return tuple(views)
