"""JavaScript's case-insensitive matching, for the ported twitter-text patterns.

twitter-text's JavaScript patterns carry the ``i`` flag without ``u``. Such a pattern
matches a character when its ``Canonicalize`` equals a pattern character's (ECMA-262,
"Canonicalize ( rer, ch )"): the character's upper case if that is one UTF-16 unit, except
that a non-ASCII character never becomes ASCII. So U+017F (long s), U+212A (Kelvin sign)
and U+0130 never match ASCII letters there, though Python's case folding would match them;
"РФ" matches "рф". Rather than Python's ``IGNORECASE``, the patterns spell each class and
literal out in every case JavaScript would accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

import regex

_BMP_END = 0x10000  # JavaScript without "u" compares UTF-16 units: astral never folds
_SURROGATES = range(0xD800, 0xE000)
_CLASS_SPECIAL = frozenset("\\]^-[")


def canonical(char: str) -> str:
    """ECMA-262 ``Canonicalize`` of one BMP character, ignoring case, without ``u``."""
    upper = char.upper()
    if len(upper) != 1 or (ord(char) >= 128 and ord(upper) < 128):
        return char
    return upper


@cache
def _same_canonical() -> Mapping[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for code in range(_BMP_END):
        if code not in _SURROGATES:
            char = chr(code)
            groups.setdefault(canonical(char), []).append(char)
    return {key: tuple(chars) for key, chars in groups.items()}


def variants(char: str) -> tuple[str, ...]:
    """Every character a JavaScript ``/i`` pattern matches for ``char`` (itself included)."""
    if ord(char) >= _BMP_END:
        return (char,)
    return _same_canonical()[canonical(char)]


def char_range(first: str, last: str) -> list[str]:
    """The characters from ``first`` to ``last``, both included."""
    return [chr(code) for code in range(ord(first), ord(last) + 1)]


def any_case(members: Iterable[str]) -> str:
    """A character class (with its brackets) matching ``members`` as a JavaScript
    ``/i`` class does."""
    found = sorted({variant for member in members for variant in variants(member)})
    return f"[{_class_body(found)}]"


def any_case_text(literal: str) -> str:
    """A pattern matching ``literal`` as a JavaScript ``/i`` pattern does."""
    return "".join(any_case(char) if len(variants(char)) > 1 else _escape(char) for char in literal)


def _class_body(chars: list[str]) -> str:
    """``chars`` (sorted, distinct) as a class body, runs written as ranges."""
    parts: list[str] = []
    start = 0
    for index in range(1, len(chars) + 1):
        if index == len(chars) or ord(chars[index]) != ord(chars[index - 1]) + 1:
            first, last = chars[start], chars[index - 1]
            if first == last:
                parts.append(_in_class(first))
            else:
                parts.append(f"{_in_class(first)}-{_in_class(last)}")
            start = index
    return "".join(parts)


def _in_class(char: str) -> str:
    return "\\" + char if char in _CLASS_SPECIAL else char


def _escape(char: str) -> str:
    return regex.escape(char)
