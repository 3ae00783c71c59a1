"""The links X finds in a post, each of which counts 23 whatever its length.

A port of ``js/src/extractUrlsWithIndices.js`` and ``js/src/lib/idna.js`` of
https://github.com/twitter/twitter-text (v3.1.0), with links with or without a scheme:
"https://example.com/a", "example.com/a" and "t.co/abc" are links; "example.c" (no known
top-level domain), "-example.com" and a domain with a label over 63 characters (in
punycode) are not. Positions are code points of the text as given (X normalizes it to NFC
first: ``x_length``).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from publisher.providers.text import url_pattern
from publisher.providers.text.link_scan import LinkScanner

DEFAULT_SCHEME = "https://"
MAX_URL_LENGTH = 4096  # twitter-text's bound on a link, scheme included
MAX_TCO_SLUG_LENGTH = 40  # a longer t.co slug is no t.co link
MAX_LABEL_LENGTH = 63  # DNS: a label is at most 63 octets (RFC 1035), in punycode
PUNYCODE_PREFIX = "xn--"
# punycode.js's toASCII splits on these as well as on ".".
_DOT_LIKE = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})

_NON_ASCII = regex.compile("[^\x00-\x7e]")  # punycode.js's regexNonASCII (DEL included)
_LINKS = LinkScanner(url_pattern.TWITTER)


@dataclass(frozen=True)
class Link:
    """A link at code point ``start``; ``length`` is how many code points X's counter
    skips for it (the length of twitter-text's ``url`` string)."""

    start: int
    length: int
    url: str


def find(text: str) -> list[Link]:
    """Every link in ``text``, in order, as twitter-text's ``extractUrlsWithIndices``
    finds them with ``extractUrlsWithoutProtocol`` on (its default)."""
    if "." not in text:
        return []
    links: list[Link] = []
    for match in _LINKS.finditer(text):
        url, protocol, domain = text[match.start : match.end], match.protocol, match.domain
        if not _is_valid_url(url, protocol or DEFAULT_SCHEME, domain):
            continue
        if protocol:
            link = _with_scheme(url, match.start)
            if link is not None:
                links.append(link)
        elif not url_pattern.NO_SCHEME_BAD_PRECEDING.search(match.before):
            links += _without_scheme(url, domain, match.path, match.start)
    return links


def _with_scheme(url: str, start: int) -> Link | None:
    tco = url_pattern.TCO_URL.match(url)
    if tco is not None:
        if len(tco[1]) > MAX_TCO_SLUG_LENGTH:
            return None
        url = tco[0]  # a t.co link ends at its slug (or query)
    return Link(start, len(url), url)


def _without_scheme(url: str, domain: str, path: str | None, start: int) -> list[Link]:
    """Only the ASCII domains of a scheme-less link count; the last keeps the path."""
    links: list[Link] = []
    end = 0
    for found in url_pattern.ASCII_DOMAIN.finditer(domain):
        # twitter-text places each by its first occurrence from the previous one's end
        # (``indexOf``), which may be an earlier copy of the same text than the match.
        at = domain.find(found[0], end)
        end = at + len(found[0])
        links.append(Link(start + at, len(found[0]), found[0]))
    if links and path:
        last = links[-1]
        whole = url.replace(domain, last.url, 1)
        links[-1] = Link(last.start, len(whole), whole)
    return links


def _is_valid_url(url: str, scheme: str, domain: str) -> bool:
    """``isValidUrl``: the domain passes ``idna.toAscii`` and the link is at most 4096
    long counting ``scheme`` (twitter-text counts the scheme of a link that has one twice,
    and its ``toAscii`` returns the domain unencoded, so the length is the link's)."""
    return _to_ascii_ok(domain) and len(scheme) + len(url) <= MAX_URL_LENGTH


def _to_ascii_ok(domain: str) -> bool:
    if domain[: len(PUNYCODE_PREFIX)] == PUNYCODE_PREFIX and not url_pattern.ASCII_DOMAIN.search(
        domain
    ):
        return False  # a punycode domain holds no non-ASCII character
    return all(1 <= _punycode_length(label) <= MAX_LABEL_LENGTH for label in domain.split("."))


def _punycode_length(label: str) -> int:
    """The length of punycode.js's ``toASCII(label)``."""
    parts = label.translate(_DOT_LIKE).split(".")
    encoded = [
        PUNYCODE_PREFIX + _punycode(part) if _NON_ASCII.search(part) else part for part in parts
    ]
    return len(".".join(encoded))


def _punycode(text: str) -> str:
    return text.encode("punycode").decode("ascii")
