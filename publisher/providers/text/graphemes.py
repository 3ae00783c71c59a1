"""Counting user-perceived characters: Unicode extended grapheme clusters.

A grapheme cluster is what a reader sees as one character: "é" written as "e" plus a
combining accent, a flag (two regional indicators), or a family emoji joined by
zero-width joiners each count once. The rules are UAX #29
(https://www.unicode.org/reports/tr29/), as the ``regex`` package's ``\\X`` implements
them. Mastodon counts a status this way (``mastodon_length``); Bluesky limits a post's
text to 300 graphemes ("maxGraphemes": 300 in lexicons/app/bsky/feed/post.json of
https://github.com/bluesky-social/atproto), a rule for a provider to come.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import regex

from publisher.providers.text.rule import TextRule

_GRAPHEME = regex.compile(r"\X")


def count(text: str) -> int:
    """The number of extended grapheme clusters in ``text`` (0 for the empty string)."""
    return sum(1 for _ in _GRAPHEME.finditer(text))


def measure(text: str, options: Mapping[str, Any]) -> int:
    """``count`` as a ``TextRule`` measure (options count for nothing)."""
    return count(text)


def grapheme_rule(limit: int) -> TextRule:
    """A rule that counts grapheme clusters, e.g. ``grapheme_rule(300)`` for Bluesky."""
    return TextRule(measure=measure, limit=limit, counted="graphemes")
