"""The sandbox's Threads containers: made by ``POST /me/threads``, processed for a number
of status polls, published at most once (``sandbox.threads``).

A container is ``IN_PROGRESS`` for ``processing_polls`` status reads, then ``FINISHED``;
publishing it makes it ``PUBLISHED`` with the post's media id, and a ``PUBLISHED``,
``EXPIRED`` or ``ERROR`` container never publishes (Meta's behaviour: a container is one
post at most). Thread-safe: publishing checks and changes the status under one lock, so
two concurrent publishes of one container make one post.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# A text carrying this marker gets its first container expired at its first publish,
# which answers 503 (a gateway error: the client cannot tell whether it landed).
EXPIRES = "[[container:expires]]"
# A text carrying this marker has its container published by "an earlier request of the
# client's that arrives late", right after the second status read that answers FINISHED:
# the client, told FINISHED, publishes a container that is PUBLISHED by then.
LANDS_LATE = "[[container:lands_late]]"
LANDS_AT_READ = 2  # the FINISHED read after which the late request lands
# An image whose URL contains this cannot be fetched: its container fails (ERROR).
BROKEN = "broken"


@dataclass(frozen=True)
class Image:
    url: str  # the image_url Meta would fetch
    alt: str | None  # its alt_text


@dataclass
class Container:
    id: str
    token: str | None
    text: str
    reply_to: str | None
    status: str = "IN_PROGRESS"  # IN_PROGRESS, FINISHED, PUBLISHED, ERROR or EXPIRED
    polls_left: int = 0  # status reads before it is FINISHED
    media_id: str | None = None  # the post, once PUBLISHED
    expires_on_publish: bool = False  # the ``EXPIRES`` marker's first container
    image: Image | None = None  # an IMAGE container's picture
    finished_reads: int = 0  # status reads that answered FINISHED


class Containers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[str, Container] = {}
        self.processing_polls = 0  # status reads a new container stays IN_PROGRESS for

    def make(
        self,
        container_id: str,
        token: str | None,
        text: str,
        reply_to: str | None,
        image: Image | None = None,
    ) -> None:
        with self._lock:
            first = not any(c.text == text and c.token == token for c in self._made.values())
            polls = self.processing_polls
            status = "IN_PROGRESS" if polls else "FINISHED"
            if image is not None and BROKEN in image.url:
                status, polls = "ERROR", 0
            self._made[container_id] = Container(
                container_id,
                token,
                text,
                reply_to,
                status=status,
                polls_left=polls,
                expires_on_publish=first and EXPIRES in text,
                image=image,
            )

    def get(self, container_id: str, token: str | None) -> Container | None:
        """A copy of the container ``token`` made (None for another's or none)."""
        with self._lock:
            found = self._made.get(container_id)
            if found is None or found.token != token:
                return None
            return Container(**vars(found))

    def poll(self, container_id: str) -> None:
        """One status read: an ``IN_PROGRESS`` container comes one read nearer done."""
        with self._lock:
            found = self._made[container_id]
            if found.status == "IN_PROGRESS":
                found.polls_left -= 1
                if found.polls_left <= 0:
                    found.status = "FINISHED"

    def lands_late_now(self, container_id: str) -> bool:
        """Count a status read that answered FINISHED; whether the ``LANDS_LATE`` marker's
        late request lands now (after the ``LANDS_AT_READ``-th such read)."""
        with self._lock:
            found = self._made[container_id]
            if found.status != "FINISHED":
                return False
            found.finished_reads += 1
            return LANDS_LATE in found.text and found.finished_reads == LANDS_AT_READ

    def expire_now(self, container_id: str) -> bool:
        """Expire the container if its marker asks for it at this publish; whether it did."""
        with self._lock:
            found = self._made[container_id]
            if not found.expires_on_publish or found.status != "FINISHED":
                return False
            found.status, found.expires_on_publish = "EXPIRED", False
            return True

    def publish(self, container_id: str, create: Callable[[], str]) -> str:
        """Publish a ``FINISHED`` container with ``create`` (which makes the post and
        answers its media id); the status it had before, whatever it was."""
        with self._lock:
            found = self._made[container_id]
            before = found.status
            if before == "FINISHED":
                found.media_id = create()
                found.status = "PUBLISHED"
            return before

    def set_status(self, status: str, text: str | None = None) -> None:
        """Set every container (with ``text``, when given) to ``status`` (a test's hand)."""
        with self._lock:
            for found in self._made.values():
                if text is None or found.text == text:
                    found.status, found.polls_left = status, 0

    def made_for(self, text: str) -> list[Container]:
        """Copies of the containers made with ``text``, oldest first."""
        with self._lock:
            return [Container(**vars(c)) for c in self._made.values() if c.text == text]

    def clear(self) -> None:
        with self._lock:
            self._made.clear()
