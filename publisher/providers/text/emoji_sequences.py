"""The emoji X counts once each, whatever code points they are made of.

twitter-text v3 (``js/src/parseTweet.js`` of https://github.com/twitter/twitter-text)
finds emoji with ``twemoji-parser`` and counts each match as one character of the default
weight: a family "👨‍👩‍👧‍👦" (seven code points) or a flag counts 2. twemoji-parser
matches Unicode's emoji sequences from a list; this matches the list the ``emoji`` package
carries (every sequence of Unicode's emoji-test.txt: fully-, minimally- and unqualified,
and components such as a lone skin tone), longest first, so emoji newer than
twitter-text's copy of twemoji count as X counts them today rather than piece by piece.

One rule of twemoji is kept by hand: ©, ®, ™ and ♟ are emoji only with the emoji
variation selector (U+FE0F) after them; alone they are text. That matters to the count
for © and ®, which weigh 1 as text and 2 as emoji. (Every other lone emoji weighs 2 as a
character anyway.)
"""

from __future__ import annotations

from collections.abc import Mapping

import emoji

# twemoji-parser's regex has "(?:[©®\u2122\u265f]\ufe0f)": these need U+FE0F to be emoji.
TEXT_UNLESS_SELECTED = frozenset({"\u00a9", "\u00ae", "\u2122", "\u265f"})


def _by_first_code_point() -> Mapping[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for sequence in emoji.EMOJI_DATA:
        if sequence not in TEXT_UNLESS_SELECTED:
            table.setdefault(sequence[0], []).append(sequence)
    return {first: tuple(sorted(found, key=len, reverse=True)) for first, found in table.items()}


_SEQUENCES = _by_first_code_point()


def at(text: str, index: int) -> int:
    """The length in code points of the longest emoji sequence starting at ``index``,
    or 0 when none starts there."""
    for sequence in _SEQUENCES.get(text[index], ()):
        if text.startswith(sequence, index):
            return len(sequence)
    return 0


def find(text: str) -> dict[int, int]:
    """Every emoji in ``text``, scanned left to right without overlap, as
    ``{start: length}`` in code points."""
    found: dict[int, int] = {}
    index = 0
    while index < len(text):
        length = at(text, index)
        if length:
            found[index] = length
            index += length
        else:
            index += 1
    return found
