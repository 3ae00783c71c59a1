"""A tweet's text as X API v2 returns it, in the create answer and in timeline reads.

* Every http(s) link is wrapped as a 23-character ``https://t.co/...`` link (here
  deterministic: the same link always wraps the same way). The original link appears only
  in ``entities.urls[]`` (``start``, ``end``, ``url``, ``expanded_url``, ``display_url``),
  which a read returns only when it asks ``tweet.fields=entities``.
* ``&``, ``<`` and ``>`` come back escaped as ``&amp;``, ``&lt;``, ``&gt;``.

``start``/``end`` count code points of the text *before* escaping (twitter-text's
convention); X's reference does not say which text they index, so a client should expand
a link by its ``url`` string rather than slice the escaped text.

Sources (checked against X's developer documentation):
https://developer.twitter.com/en/docs/twitter-api/data-dictionary/example-payloads (a v2
tweet whose ``text`` ends in a t.co link and whose ``entities.urls[]`` carries start, end,
url, expanded_url, display_url); https://docs.x.com/x-api/fundamentals/data-dictionary
(``text``, ``edit_history_tweet_ids`` default fields; ``entities`` on request). The
escaping is not in X's reference; developers report it:
https://twittercommunity.com/t/tweet-text-html-encoding-clarity/68810 and
https://kbravh.dev/html-entities-twitter-api-v2.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from typing import Any

# A link runs from its scheme to the next space or quote; sentence punctuation at its end
# is not part of it (a closing bracket is, when the link opened one).
LINK = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
TRAILING = ".,;:!?'\")]}"
TCO = "https://t.co/"
TCO_CODE_LENGTH = 10  # t.co links are 23 characters long
DISPLAY_LENGTH = 23  # display_url: the link without its scheme, cut with an ellipsis
_ALPHABET = string.digits + string.ascii_letters


@dataclass(frozen=True)
class Rendered:
    """A created tweet's text as X shows it, and its URL entities."""

    text: str
    urls: tuple[dict[str, Any], ...]


def render(text: str) -> Rendered:
    """``text`` with every link wrapped as t.co and ``& < >`` escaped, with one
    ``entities.urls`` item per link, in order."""
    parts: list[str] = []
    urls: list[dict[str, Any]] = []
    done = 0
    length = 0  # code points in parts so far
    for found in LINK.finditer(text):
        link = _trim(found.group())
        if link.endswith("//"):
            continue  # a bare scheme ("https://.") is no link
        before = text[done : found.start()]
        short = tco(link)
        start = length + len(before)
        urls.append(
            {
                "start": start,
                "end": start + len(short),
                "url": short,
                "expanded_url": link,
                "display_url": display(link),
            }
        )
        parts += [before, short]
        length = start + len(short)
        done = found.start() + len(link)
    parts.append(text[done:])
    return Rendered(escape("".join(parts)), tuple(urls))


def tco(link: str) -> str:
    """The t.co link ``link`` wraps as (the same for the same link, always)."""
    number = int.from_bytes(hashlib.sha256(link.encode("utf-8")).digest()[:8], "big")
    code = []
    for _ in range(TCO_CODE_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        code.append(_ALPHABET[digit])
    return TCO + "".join(code)


def display(link: str) -> str:
    """``link`` as X displays it: no scheme, long ones cut with an ellipsis."""
    shown = link.split("//", 1)[1] if "//" in link else link
    return shown if len(shown) <= DISPLAY_LENGTH else shown[: DISPLAY_LENGTH - 1] + "…"


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as HTML entities (quotes stay as they are)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _trim(link: str) -> str:
    while link and link[-1] in TRAILING:
        if link[-1] == ")" and link.count("(") >= link.count(")"):
            break  # the link opened this bracket, e.g. a Wikipedia title
        link = link[:-1]
    return link
