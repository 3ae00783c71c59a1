"""A post's length as X counts it: twitter-text v3's weighted length.

A port of ``parseTweet`` (``js/src/parseTweet.js``, ``js/src/lib/getCharacterWeight.js``,
``js/src/hasInvalidCharacters.js``) of https://github.com/twitter/twitter-text (v3.1.0)
with its v3 configuration (``config/v3.json``): the text is normalized to NFC; each link
(``x_links``) counts 23 and each emoji sequence (``emoji_sequences``) 2; every other
code point weighs 1 in the ranges below (Latin, Greek, Cyrillic and most other alphabets,
general punctuation) and 2 elsewhere (CJK, Hangul, astral characters...). A tweet is
valid when its weighted length is from 1 to 280 and it holds none of U+FFFE, U+FEFF,
U+FFFF. Checked against the ``WeightedTweetsCounterTest``,
``WeightedTweetsWithDiscountedEmojiCounterTest`` and ``UnicodeDirectionalMarkerCounterTest``
cases of twitter-text's ``conformance/validate.yml`` (``tests/unit/test_x_length.py``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from publisher.providers.text import emoji_sequences, x_links
from publisher.providers.text.rule import TextRule
from publisher.providers.text.url_pattern import INVALID_CHARS

# config/v3.json
MAX_WEIGHTED_LENGTH = 280
SCALE = 100
DEFAULT_WEIGHT = 200
TRANSFORMED_URL_LENGTH = 23
RANGES = ((0, 4351, 100), (8192, 8205, 100), (8208, 8223, 100), (8242, 8247, 100))

COUNTED = "as X counts it (URLs 23, CJK and emoji 2)"


@dataclass(frozen=True)
class Weighed:
    """What X's counter says of a text."""

    weighted_length: int
    valid: bool


def character_weight(char: str) -> int:
    """``getCharacterWeight``: a code point's weight, in hundredths."""
    code = ord(char)
    for start, end, weight in RANGES:
        if start <= code <= end:
            return weight
    return DEFAULT_WEIGHT


def weigh(text: str, *, emoji_parsing: bool = True) -> Weighed:
    """``parseTweet``'s ``weightedLength`` and ``valid`` for ``text`` with config v3, or
    with ``emoji_parsing=False`` config v2 (the same but each emoji code point weighed
    alone), which twitter-text's own conformance runs use for ``WeightedTweetsCounterTest``.
    """
    text = unicodedata.normalize("NFC", text)
    links = {link.start: link.length for link in x_links.find(text)}
    emoji = emoji_sequences.find(text) if emoji_parsing else {}
    total = 0
    clean = True
    index = 0
    while index < len(text):
        if index in links:
            total += TRANSFORMED_URL_LENGTH * SCALE
            step = links[index]
        elif index in emoji:
            total += DEFAULT_WEIGHT
            step = emoji[index]
        else:
            total += character_weight(text[index])
            step = 1
        index += step
        # twitter-text looks only at the last character of each step.
        clean = clean and text[index - 1] not in INVALID_CHARS
    weighted = total // SCALE
    return Weighed(weighted, clean and 0 < weighted <= MAX_WEIGHTED_LENGTH)


def measure(text: str, options: Mapping[str, Any]) -> int:
    """The weighted length as a ``TextRule`` measure (options count for nothing)."""
    return weigh(text).weighted_length


def refusal(text: str) -> str | None:
    """Why X refuses ``text`` whatever its length: a character it never accepts."""
    for char in text:
        if char in INVALID_CHARS:
            return f"must not contain U+{ord(char):04X}, which X refuses"
    return None


RULE = TextRule(measure=measure, limit=MAX_WEIGHTED_LENGTH, counted=COUNTED, refusal=refusal)
