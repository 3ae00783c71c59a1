"""A network's text rule: how it measures a post's text, and the most it allows.

``core.service`` checks every post's text against its provider's rule when the post is
created or edited; the message names the measured length, the way it was measured and
the limit, so a caller can tell why "280 characters" was too long for X.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Measure = Callable[[str, Mapping[str, Any]], int]
"""``measure(text, options)``: the text's length as the network counts it (some networks
count an option too, e.g. Mastodon's content warning)."""

Refusal = Callable[[str], "str | None"]
"""``refusal(text)``: why the network refuses the text whatever its length, or None."""


def _accepts_any(text: str) -> str | None:
    return None


@dataclass(frozen=True)
class TextRule:
    """How one network measures text (``counted``, e.g. "code points") and its limit."""

    measure: Measure
    limit: int
    counted: str
    refusal: Refusal = _accepts_any


def code_points(text: str, options: Mapping[str, Any]) -> int:
    """The number of Unicode code points (Python's ``len``)."""
    return len(text)


def code_point_rule(limit: int) -> TextRule:
    """A rule that counts code points, as a plain HTTP receiver does."""
    return TextRule(measure=code_points, limit=limit, counted="code points")


def utf16_units(text: str, options: Mapping[str, Any]) -> int:
    """The number of UTF-16 code units (a character outside the BMP, e.g. most emoji,
    counts 2): never fewer than the code points, so a limit stated in "characters" is
    never passed by a text the network would refuse."""
    return len(text.encode("utf-16-le")) // 2


def utf16_rule(limit: int) -> TextRule:
    """A rule that counts UTF-16 code units (Telegram, Discord)."""
    return TextRule(measure=utf16_units, limit=limit, counted="UTF-16 code units")
