"""What media a network takes on one post, as data: a ``MediaRule`` per provider.

``check_for_post`` (core) refuses a post whose media breaks its provider's rule before it
is stored, naming the limit; the engine checks a URL item's real type and size again
when it fetches it (``engine.media_load``). Kinds are what publisher tells apart by the
file's bytes (``core.media_types``): a still image, an animated GIF, a video.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

MB = 1024 * 1024


class Kind(enum.StrEnum):
    IMAGE = "image"  # PNG, JPEG, WebP (and a GIF a network treats as a still)
    GIF = "gif"  # GIF: animated on every network publisher serves
    VIDEO = "video"  # MP4 or QuickTime


@dataclass(frozen=True)
class MediaRule:
    """The media one post may carry on a network.

    ``max_items``: attachments per post; ``max_bytes``: the largest file of each kind it
    takes (a kind missing is refused); ``max_alt``: the longest alt text, in characters
    (code points); ``alone``: kinds that must be the only attachment of their post;
    ``max_caption``: the longest text a post with media may have, measured by the
    provider's text rule (Telegram's caption; None: the text rule's limit applies).
    ``by_url``: the network fetches each file itself from a public URL, so only files
    given to publisher by URL can go (an uploaded one is served behind publisher's key).
    """

    max_items: int
    max_bytes: Mapping[Kind, int]
    max_alt: int
    alone: frozenset[Kind] = frozenset()
    max_caption: int | None = None
    by_url: bool = False

    @property
    def kinds(self) -> frozenset[Kind]:
        return frozenset(self.max_bytes)

    @property
    def largest(self) -> int:
        """The largest file of any kind: what a fetch may read before it knows the kind."""
        return max(self.max_bytes.values(), default=0)

    def refusal(self, kinds: list[Kind | None]) -> str | None:
        """Why a post with attachments of ``kinds`` (None: not known yet) breaks the rule's
        count or mixing, or None."""
        if len(kinds) > self.max_items:
            return f"has {len(kinds)} items; at most {self.max_items} allowed"
        lonely = [k for k in kinds if k in self.alone]
        if lonely and len(kinds) > 1:
            return f"a {lonely[0]} must be the only attachment of its post; got {len(kinds)}"
        return None


# Mastodon: four attachments per status (the instance's ``configuration.statuses.
# max_media_attachments``); a video (or audio) goes alone ("Cannot attach a video to a post
# that already contains images"); image and video size limits are the instance's
# ``configuration.media_attachments.image_size_limit`` / ``video_size_limit``, here
# mastodon.social's 16 MiB and 99 MiB; a description is at most 1,500 characters.
# Sources: https://docs.joinmastodon.org/entities/Instance/#media_attachments,
# https://docs.joinmastodon.org/methods/media/#v2 (``description``),
# https://docs.joinmastodon.org/user/posting/#media.
MASTODON = MediaRule(
    max_items=4,
    max_bytes={Kind.IMAGE: 16 * MB, Kind.GIF: 16 * MB, Kind.VIDEO: 99 * MB},
    max_alt=1_500,
    alone=frozenset({Kind.VIDEO}),
)

# X: "up to 4 photos, 1 animated GIF or 1 video" per post; images up to 5 MB, GIFs up to
# 15 MB, videos up to 512 MB; alt text at most 1,000 characters. Sources:
# https://docs.x.com/x-api/media/quickstart/best-practices,
# https://docs.x.com/x-api/media/create-media-metadata (``alt_text.text``).
X = MediaRule(
    max_items=4,
    max_bytes={Kind.IMAGE: 5 * MB, Kind.GIF: 15 * MB, Kind.VIDEO: 512 * MB},
    max_alt=1_000,
    alone=frozenset({Kind.GIF, Kind.VIDEO}),
)

# Webhook: the receiver gets media URLs in the payload, so only publisher's own bounds
# apply: files up to PUBLISHER_MEDIA_MAX_BYTES (checked on upload), a payload that stays
# small (ten items), alt text as long as Mastodon's longest.
WEBHOOK = MediaRule(
    max_items=10,
    max_bytes={Kind.IMAGE: 512 * MB, Kind.GIF: 512 * MB, Kind.VIDEO: 512 * MB},
    max_alt=1_500,
)

# A network whose media publisher does not serve yet: any attachment
# is refused when the post is created, naming the limit of 0 items.
NO_MEDIA = MediaRule(max_items=0, max_bytes={}, max_alt=0)

# Threads (Meta): one image per post (part), fetched by Meta from its public ``image_url``
# (https://developers.facebook.com/docs/threads/posts/); JPEG or PNG up to 8 MB ("Media
# Specifications"); alt text as ``alt_text`` (https://developers.facebook.com/documentation/
# threads/posts/accessibility: no limit stated, so X's 1,000 characters). Videos (polled
# while Meta processes them) and carousels (a container per item, then one for the
# carousel) are not served yet, nor files uploaded to publisher (``by_url``).
THREADS = MediaRule(max_items=1, max_bytes={Kind.IMAGE: 8 * MB}, max_alt=1_000, by_url=True)
