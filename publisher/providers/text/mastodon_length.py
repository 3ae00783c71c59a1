"""A status's length as Mastodon counts it.

Mastodon's ``StatusLengthValidator`` (app/validators/status_length_validator.rb of
https://github.com/mastodon/mastodon) counts the grapheme clusters of the content warning
(``spoiler_text``) followed by the text, in which each link counts as 23 characters and a
remote mention "@user@example.social" as "@user" only; an instance allows 500 unless its
admin changed it (https://docs.joinmastodon.org/user/posting/#text; the instance tells
its own in ``configuration.statuses.max_characters`` and ``characters_reserved_per_url``
of https://docs.joinmastodon.org/entities/Instance/, which a credential's
``max_text_length`` can carry).

Links are twitter-text's ``extract_urls_with_indices`` with ``extract_url_without_protocol:
false`` (only links with a scheme count), with the patterns Mastodon widens in
config/initializers/twitter_regex.rb: more schemes, and any non-space path character.
Mentions are ``Account::MENTION_RE`` as app/lib/extractor.rb extracts them, and an entity
overlapping an earlier one is dropped (twitter-text's ``remove_overlapping_entities``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex

from publisher.providers.text import graphemes, url_pattern
from publisher.providers.text.js_case import any_case_text
from publisher.providers.text.link_scan import LinkScanner
from publisher.providers.text.rule import TextRule

MAX_CHARACTERS = 500  # Mastodon's default; an instance's admin may change it
URL_PLACEHOLDER = "x" * 23  # every link counts as 23 characters
MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40
COUNTED = "as Mastodon counts it (content warning included, URLs 23, @user@domain as @user)"

_SCHEMES = ("https", "http", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher", "gemini")
_PATH_CHAR = r"[^\p{White_Space}<>()?]"
_PATH_END = (
    r"(?:[^\p{White_Space}()?!*\"'「」<>;:=,.$%\[\]~&|@]"
    rf"|(?:{url_pattern.balanced_parens(url_pattern.TWITTER_PATH_CHAR)}))"
)
# Mastodon's UCHARS: the non-ASCII characters RFC 3987 allows in an IRI's query.
_UCHARS = (
    r"\xa0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd"
    r"\U00030000-\U0003fffd\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd"
    r"\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd"
    r"\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd"
    r"\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
_LINKS = LinkScanner(
    url_pattern.LinkSyntax(
        schemes="|".join(any_case_text(scheme) for scheme in _SCHEMES),
        path=url_pattern.url_path(_PATH_CHAR, _PATH_END, at_path=""),
        query_char=rf"[a-zA-Z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]",
        query_end_char=rf"[a-zA-Z0-9_&=#/\-{_UCHARS}]",
    )
)

_WORD = r"[\p{L}\p{M}\p{Nd}\p{Pc}]"  # Ruby's [[:word:]]
_MENTION = regex.compile(
    rf"(?<![=/]|{_WORD})@((?:[a-zA-Z0-9_]+(?:[.-]+[a-zA-Z0-9_]+)*)(?:@{_WORD}+(?:[.-]+{_WORD}+)*)?)"
)
# twitter-text's end_mention_match: a mention followed by these is none.
_MENTION_END = regex.compile(rf"[@\uff20{''.join(url_pattern.LATIN_ACCENTS)}]|://")


@dataclass(frozen=True)
class _Entity:
    start: int
    end: int
    replacement: str


def countable_text(text: str) -> str:
    """The text as Mastodon counts it: each link as 23 "x", each mention as "@user"."""
    if not text.strip():
        return ""
    kept: list[_Entity] = []
    for entity in sorted(_links(text) + _mentions(text), key=lambda found: found.start):
        if not kept or entity.start >= kept[-1].end:
            kept.append(entity)
    parts: list[str] = []
    done = 0
    for entity in kept:
        parts += [text[done : entity.start], entity.replacement]
        done = entity.end
    parts.append(text[done:])
    return "".join(parts)


def length(text: str, spoiler_text: str = "") -> int:
    """The status's length: graphemes of the content warning and the countable text."""
    return graphemes.count(spoiler_text + countable_text(text))


def measure(text: str, options: Mapping[str, Any]) -> int:
    """``length`` as a ``TextRule`` measure, with the ``spoiler_text`` option if any."""
    spoiler = options.get("spoiler_text")
    return length(text, spoiler if isinstance(spoiler, str) else "")


RULE = TextRule(measure=measure, limit=MAX_CHARACTERS, counted=COUNTED)


def _links(text: str) -> list[_Entity]:
    if ":" not in text:
        return []
    found = []
    for match in _LINKS.finditer(text):
        if not match.protocol:
            continue  # Mastodon counts only links with a scheme
        url, start = text[match.start : match.end], match.start
        tco = url_pattern.TCO_URL.match(url)
        if tco is not None:
            if len(tco[1]) > MAX_TCO_SLUG_LENGTH:
                continue
            url = tco[0]
        if _is_valid_domain(len(url), match.domain):
            found.append(_Entity(start, start + len(url), URL_PLACEHOLDER))
    return found


def _is_valid_domain(url_length: int, domain: str) -> bool:
    """twitter-text's Ruby ``is_valid_domain``: IDNA-encodable, link at most 4096 long
    counting the encoded domain."""
    try:
        encoded = domain.encode("idna")
    except UnicodeError:
        return False
    return url_length + max(0, len(encoded) - len(domain)) <= MAX_URL_LENGTH


def _mentions(text: str) -> list[_Entity]:
    if "@" not in text and "\uff20" not in text:  # or a fullwidth @
        return []
    found = []
    for match in _MENTION.finditer(text):
        if _MENTION_END.match(text, match.end()):
            continue
        name = match[1]
        found.append(_Entity(match.start(1) - 1, match.end(1), "@" + name.split("@")[0]))
    return found
