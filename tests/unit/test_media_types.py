"""Sniffing a media file's type from its bytes, filenames, and the per-provider rules."""

from __future__ import annotations

import pytest

from publisher.core.media_types import filename_for, sniff
from publisher.providers import PROVIDERS
from publisher.providers.bluesky_media import MEDIA_RULE as BLUESKY_MEDIA
from publisher.providers.discord_media import MEDIA_RULE as DISCORD_MEDIA
from publisher.providers.facebook_media import MEDIA_RULE as FACEBOOK_MEDIA
from publisher.providers.linkedin_media import MEDIA_RULE as LINKEDIN_MEDIA
from publisher.providers.media_rule import (
    MASTODON,
    THREADS,
    WEBHOOK,
    Kind,
    MediaRule,
    X,
)
from publisher.providers.telegram_media import MEDIA_RULE as TELEGRAM_MEDIA
from tests.support.media_files import GIF, JPEG, MOV, MP4, PNG, WEBP


@pytest.mark.parametrize(
    ("content", "content_type", "kind"),
    [
        (PNG, "image/png", Kind.IMAGE),
        (JPEG, "image/jpeg", Kind.IMAGE),
        (GIF, "image/gif", Kind.GIF),
        (b"GIF87a" + b"\x00" * 10, "image/gif", Kind.GIF),
        (WEBP, "image/webp", Kind.IMAGE),
        (MP4, "video/mp4", Kind.VIDEO),
        (b"\x00\x00\x00\x20ftypisom" + b"\x00" * 8, "video/mp4", Kind.VIDEO),
        (MOV, "video/quicktime", Kind.VIDEO),
    ],
)
def test_accepted_types_are_read_from_their_signatures(
    content: bytes, content_type: str, kind: Kind
) -> None:
    found = sniff(content)
    assert found is not None
    assert (found.content_type, found.kind) == (content_type, kind)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7\n",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        b"\x89PNG",  # a cut signature
        b"\x00\x00\x00\x18ftyp",  # ftyp with no brand
        b"\xff\xd8",  # half a JPEG marker
    ],
)
def test_anything_else_is_not_media(content: bytes) -> None:
    assert sniff(content) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("cat.png", "cat.png"),
        ("cat.txt", "cat.png"),  # the bytes decide the extension
        (None, "media.png"),
        ("", "media.png"),
        ("../../etc/passwd", "passwd.png"),
        ("https://cdn.example/a/b/photo.jpeg", "photo.png"),
        ("my cat (1).png", "my_cat__1_.png"),
        ("é" * 300 + ".png", "_" * 200 + ".png"),
    ],
)
def test_filenames_are_safe_labels(given: str | None, expected: str) -> None:
    found = sniff(PNG)
    assert found is not None
    assert filename_for(given, found) == expected


@pytest.mark.parametrize(
    ("rule", "kinds", "refusal"),
    [
        (X, [Kind.IMAGE] * 4, None),
        (X, [Kind.IMAGE] * 5, "has 5 items; at most 4 allowed"),
        (X, [Kind.GIF], None),
        (X, [Kind.GIF, Kind.IMAGE], "a gif must be the only attachment of its post; got 2"),
        (X, [Kind.IMAGE, Kind.VIDEO], "a video must be the only attachment of its post; got 2"),
        (X, [None, None], None),  # kinds unknown until fetched
        (MASTODON, [Kind.GIF, Kind.IMAGE], None),  # Mastodon mixes GIFs and images
        (MASTODON, [Kind.VIDEO, None], "a video must be the only attachment of its post; got 2"),
        (WEBHOOK, [Kind.VIDEO, Kind.IMAGE, Kind.GIF], None),
        (WEBHOOK, [Kind.IMAGE] * 11, "has 11 items; at most 10 allowed"),
    ],
)
def test_rules_refuse_counts_and_mixes(
    rule: MediaRule, kinds: list[Kind | None], refusal: str | None
) -> None:
    assert rule.refusal(kinds) == refusal


def test_every_provider_has_a_media_rule() -> None:
    assert {name: p.media_rule for name, p in PROVIDERS.items()} == {
        "mastodon": MASTODON,
        "x": X,
        "webhook": WEBHOOK,
        "bluesky": BLUESKY_MEDIA,
        "linkedin": LINKEDIN_MEDIA,
        "telegram": TELEGRAM_MEDIA,
        "discord": DISCORD_MEDIA,
        "facebook": FACEBOOK_MEDIA,
        "threads": THREADS,  # one image by URL (Meta fetches it)
    }
    assert X.max_alt == 1_000
    assert MASTODON.max_alt == 1_500
    assert X.max_bytes[Kind.IMAGE] == 5 * 1024 * 1024


def test_webhook_media_entries_point_at_the_content_route() -> None:
    from publisher.core.settings import Settings
    from publisher.providers.webhook_media import content_url, entry

    settings = Settings.from_env({"PUBLISHER_PUBLIC_URL": "https://pub.example/"})
    assert content_url(settings.api_url, 7) == "https://pub.example/v1/media/7/content"
    assert Settings.from_env({}).api_url == "http://127.0.0.1:8000"
    assert entry(7, "https://pub.example/v1/media/7/content", "image", "image/png", "A cat") == {
        "id": 7,
        "url": "https://pub.example/v1/media/7/content",
        "type": "image",
        "content_type": "image/png",
        "alt": "A cat",
    }
