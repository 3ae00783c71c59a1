"""A multi-step publish as a sequence of steps, and which of them are still to do.

Pure. A post with parts (a thread) or media is published step by step: for each part, in
order, each of its media files is uploaded (then described, then waited on while the
provider processes it, where the provider needs that), then the part is created as a
reply to the part before (first made a container, whose status is asked right before,
where the provider publishes from one: ``container_steps``). Each confirmed step is
stored (``progress``) under its key, so a later attempt starts at the first step not yet
confirmed and never repeats one.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from publisher.providers.base import Published


class Kind(enum.StrEnum):
    UPLOAD = "upload"  # send one media file to the provider
    DESCRIBE = "describe"  # set its alt text, where the upload cannot carry it
    PROCESS = "process"  # wait until the provider has processed it (or the part's container)
    CONTAIN = "contain"  # make the part's container, where the provider publishes one
    CREATE = "create"  # create one part, a reply to the part before


@dataclass(frozen=True)
class Part:
    """One part of a post: its text and its media ({"id", "type", "alt", ...})."""

    text: str
    media: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Step:
    kind: Kind
    part: int  # 0-based
    media: int | None = None  # 0-based, within the part; None for a create or a container

    @property
    def key(self) -> str:
        """The key its confirmation is stored under: "p2" (part 3 created), "p0.m1" (part
        1's second file uploaded; processing marks that same row ready), "p0.m1.alt",
        "p0.c" (part 1's container made; its status check marks it ready)."""
        if self.kind is Kind.CREATE:
            return f"p{self.part}"
        if self.media is None:
            return f"p{self.part}.c"
        if self.kind is Kind.DESCRIBE:
            return f"p{self.part}.m{self.media}.alt"
        return f"p{self.part}.m{self.media}"

    def label(self, parts: int) -> str:
        """How a person names it: "part 3 of 5", "media 2 of part 1"."""
        of = f"part {self.part + 1} of {parts}" if parts > 1 else "the post"
        if self.media is None:
            return of
        return f"media {self.media + 1} of {of}"


@dataclass(frozen=True)
class Confirmed:
    """A stored confirmation: the provider's id for what the step made."""

    external_id: str
    external_url: str | None = None
    ready: bool = True  # an upload still processing at the provider: False

    @classmethod
    def of(cls, published: Published) -> Confirmed:
        return cls(published.external_id, published.external_url)


def parts_of(text: str, parts: Sequence[Mapping[str, Any]] | None) -> list[Part]:
    """The post's parts: its stored ``parts``, else one part of ``text`` without media."""
    if not parts:
        return [Part(text)]
    return [Part(str(p.get("text", "")), tuple(p.get("media") or ())) for p in parts]


def sequence(
    parts: Sequence[Part],
    uploads: bool,
    describes: Callable[[str], bool] = lambda kind: False,
    contains: bool = False,
) -> list[Step]:
    """Every step, in order. ``uploads``: the provider takes media by upload (else the
    create carries them); ``describes(kind)``: a file of that kind gets its alt text by a
    request of its own; ``contains``: each part is made a container first, whose status is
    checked right before the part is created (``container_steps``)."""
    steps: list[Step] = []
    for index, part in enumerate(parts):
        for m, item in enumerate(part.media if uploads else ()):
            steps.append(Step(Kind.UPLOAD, index, m))
            kind = item.get("type")  # None: a URL's file, its kind known once fetched
            if item.get("alt") and (kind is None or describes(str(kind))):
                steps.append(Step(Kind.DESCRIBE, index, m))
            steps.append(Step(Kind.PROCESS, index, m))
        if contains:
            steps += [Step(Kind.CONTAIN, index), Step(Kind.PROCESS, index)]
        steps.append(Step(Kind.CREATE, index))
    return steps


def is_done(step: Step, done: Mapping[str, Confirmed]) -> bool:
    found = done.get(step.key)
    if found is None:
        return False
    if step.kind is Kind.PROCESS and step.media is None:  # a container: asked at every
        return f"p{step.part}" in done  # attempt until its part is created
    return found.ready if step.kind is Kind.PROCESS else True


def part_key(post_key: str, part: int) -> str:
    """The idempotency key of one part: the post's own for part 1 (as a one-part post
    sends), a stable digest of it and the part's place for the others (fits 64 characters,
    and a retry of that part sends the same key)."""
    if part == 0:
        return post_key
    return hashlib.sha256(f"{post_key}\x00part{part}".encode()).hexdigest()[:32]


def media_ids(part: int, count: int, done: Mapping[str, Confirmed]) -> list[str]:
    """The provider's ids of part ``part``'s ``count`` uploaded files, in order."""
    return [done[f"p{part}.m{m}"].external_id for m in range(count)]
