"""twitter-text's link pattern: what X (and Mastodon, which reuses it) count as a link.

A port of the pieces under ``js/src/regexp/`` of https://github.com/twitter/twitter-text
(v3.1.0): ``extractUrl.js`` and what it names (``validUrlPrecedingChars``,
``validDomain``, ``validSubdomain``, ``validDomainName``, ``validDomainChars``,
``invalidDomainChars``, ``punct``, ``spacesGroup``, ``validGTLD``, ``validCCTLD``,
``validPunycode``, ``validPortNumber``, ``validUrlPath``, ``validGeneralUrlPathChars``,
``validUrlBalancedParens``, ``validUrlPathEndingChars``, ``validUrlQueryChars``,
``validUrlQueryEndingChars``, ``validAsciiDomain``, ``validTcoUrl``), as pattern text;
``link_scan`` runs them. X uses twitter-text's own ``LinkSyntax`` (``TWITTER``); Mastodon
widens the schemes and the path and query characters (``mastodon_length``). Letters match
in any case as JavaScript's ``i`` flag has them (``js_case``).

JavaScript matches UTF-16 code units and Python code points; every class here is the
same on both except that a lone surrogate half can no longer match on its own. So where
JavaScript would start a link in the middle of an emoji (after its first half, when a
domain character follows), this starts none, as twitter-text's Java does (its patterns
match code points).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import regex

from publisher.providers.text import tlds
from publisher.providers.text.js_case import any_case, any_case_text, char_range

INVALID_CHARS = "\ufffe\ufeff\uffff"  # invalidCharsGroup.js: X refuses a text holding one
DIRECTIONAL_MARKERS = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
# punct.js (note: no double quote and no backquote) and spacesGroup.js, as class members.
_PUNCT = r"!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$"
_SPACES = r"\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# The classes twitter-text writes with the "i" flag, as members (js_case adds the cases).
_ASCII_LETTERS = char_range("a", "z")
_DIGITS = char_range("0", "9")
LATIN_ACCENTS = [
    *char_range("\xc0", "\xd6"),
    *char_range("\xd8", "\xf6"),
    *char_range("\xf8", "\xff"),
    *char_range("\u0100", "\u024f"),
    *"\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb",
    *char_range("\u0300", "\u036f"),
    *char_range("\u1e00", "\u1eff"),
]
CYRILLIC = char_range("\u0400", "\u04ff")

PRECEDING_CHAR = rf"(?:[^A-Za-z0-9@\uff20$#\uff03{INVALID_CHARS}]|[{DIRECTIONAL_MARKERS}])"
DOMAIN_CHAR = rf"[^{_PUNCT}{_SPACES}{INVALID_CHARS}{DIRECTIONAL_MARKERS}]"
PUNYCODE = rf"(?:{any_case_text('xn--')}{any_case(['-', *_DIGITS, *_ASCII_LETTERS])}+)"
PORT = r"[0-9]+"

TWITTER_PATH_CHAR = any_case(
    [*_ASCII_LETTERS, *CYRILLIC, *_DIGITS, *"!*';:=+,.$/%#[]-\u2013_~@|&", *LATIN_ACCENTS]
)
TWITTER_PATH_END_CHAR = any_case(
    [*"+-", *_ASCII_LETTERS, *CYRILLIC, *_DIGITS, *"=_#/", *LATIN_ACCENTS]
)
TWITTER_QUERY_CHAR = any_case([*_ASCII_LETTERS, *_DIGITS, *"!?*'@();:&=+$/%#[]-_.,~|"])
TWITTER_QUERY_END_CHAR = any_case([*_ASCII_LETTERS, *_DIGITS, *"-_&=#/"])


_TLD_END = r"(?=[^0-9a-zA-Z@+-]|$)"  # a top-level domain ends where no such character follows


def _tld(names: Sequence[str]) -> str:
    """``validGTLD``/``validCCTLD``: one of ``names`` then ``_TLD_END``, as a trie so a
    position is tested against each name's characters once, not against every name.

    twitter-text lists the names in reverse order, so of two names where one begins the
    other the longer is tried first; the trie tries a longer continuation before ending.
    """
    trie: dict[str, Any] = {}
    for name in names:
        node = trie
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_pattern(trie)


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [
        any_case_text(char) + _trie_pattern(child)
        for char, child in sorted(node.items(), reverse=True)
        if char
    ]
    if "" in node:
        branches.append(_TLD_END)
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


_GENERIC = _tld(tlds.GENERIC)
_COUNTRY = _tld(tlds.COUNTRY)
TLD = rf"(?:{_GENERIC}|{_COUNTRY}|{PUNYCODE})"
"""The end of ``validDomain``: a generic or country top-level domain, or punycode."""


def balanced_parens(path_char: str) -> str:
    """``validUrlBalancedParens``: "(...)" in a path, one level of nesting allowed."""
    inner = rf"(?:{path_char}+|(?:{path_char}*\({path_char}+\){path_char}*))"
    return rf"\({inner}\)"


def url_path(path_char: str, path_end: str, at_path: str) -> str:
    """``validUrlPath``: path characters ending in ``path_end``, or the "@name/" form
    (``at_path`` is what comes before the name).

    ``path_end`` is pasted in as it is, as twitter-text's ``regexSupplant`` pastes the
    source of ``validUrlPathEndingChars``: its top-level "|" splits the whole first
    alternative, not only the ending (Mastodon's Ruby wraps it in a group instead).
    """
    parens = balanced_parens(path_char)
    return rf"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:{at_path}{path_char}+/))"


@dataclass(frozen=True)
class LinkSyntax:
    """The parts of twitter-text's link pattern that a network may change."""

    schemes: str  # the scheme alternatives, e.g. "https?"
    path: str  # one path piece (``validUrlPath``)
    query_char: str
    query_end_char: str


TWITTER = LinkSyntax(
    schemes=any_case_text("http") + any_case("s") + "?",
    path=url_path(
        TWITTER_PATH_CHAR,
        rf"{TWITTER_PATH_END_CHAR}|(?:{balanced_parens(TWITTER_PATH_CHAR)})",
        at_path="@",
    ),
    query_char=TWITTER_QUERY_CHAR,
    query_end_char=TWITTER_QUERY_END_CHAR,
)

ASCII_DOMAIN = regex.compile(
    rf"(?:(?:{any_case(['-', *_ASCII_LETTERS, *_DIGITS, *LATIN_ACCENTS])}+)\.)+"
    rf"(?:{_GENERIC}|{_COUNTRY}|{PUNYCODE})"
)
"""``validAsciiDomain``: the domains in a scheme-less link that may stand alone."""

TCO_URL = regex.compile(
    rf"^{any_case_text('http')}{any_case('s')}?://{any_case_text('t.co')}/"
    rf"({any_case([*_ASCII_LETTERS, *_DIGITS])}+)"
    rf"(?:\?{TWITTER_QUERY_CHAR}*{TWITTER_QUERY_END_CHAR})?"
)
"""``validTcoUrl``: a t.co link takes no path after its slug."""

NO_SCHEME_BAD_PRECEDING = regex.compile(r"[-_./]$")
"""``invalidUrlWithoutProtocolPrecedingChars``: "-example.com" is no link."""
