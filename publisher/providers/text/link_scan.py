"""Finding twitter-text's links (``extractUrl``) in time linear in the text.

twitter-text finds links with one global regular expression: a preceding character, an
optional scheme, a domain (``validSubdomain* validDomainName (validGTLD | validCCTLD |
validPunycode)``), then an optional port, path and query. Run as one pattern, a regex
engine retries every start inside a long run of letters and backs off label by label
through a long chain of them: a 40,000-character text with no space took seconds, a
megabyte minutes. This scanner gives the same matches, in the same order, as that pattern
under ``finditer`` (checked against twitter-text's own JavaScript on thousands of texts:
``tests/unit/test_x_length.py``), with the domain worked out label by label:

* a label (``validSubdomain``) runs from a domain character to the first "." and ends in
  a domain character; a ``validDomainName`` label also has no "_";
* greedy ``sub* name tld`` at a start is the match of the chain from the next label when
  there is one, else this label as the name and a top-level domain right after it. Each
  label start's answer is worked out once and remembered, so no text is crossed twice.

The port, path and query after a domain, and the scheme, are still regular expressions,
tried once per candidate start.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import regex

from publisher.providers.text.url_pattern import (
    DOMAIN_CHAR,
    PORT,
    PRECEDING_CHAR,
    TLD,
    LinkSyntax,
)

_RUN = regex.compile(rf"(?:[_-]|{DOMAIN_CHAR})+")  # a label's characters, before its "."
_DOMAIN_CHAR = regex.compile(DOMAIN_CHAR)
_PRECEDING_CHAR = regex.compile(PRECEDING_CHAR)
_TLD = regex.compile(TLD)


@dataclass(frozen=True)
class Found:
    """One match of twitter-text's ``extractUrl``: the groups ``parseTweet`` reads."""

    before: str  # the preceding character ("" at the start of the text)
    start: int  # where the link (``url``) starts, after ``before``
    end: int
    protocol: str | None
    domain: str
    path: str | None


class LinkScanner:
    """``extractUrl`` for one ``LinkSyntax`` (X's, or Mastodon's wider one)."""

    def __init__(self, syntax: LinkSyntax) -> None:
        self._scheme = regex.compile(rf"(?:{syntax.schemes})://")
        self._rest = regex.compile(
            rf"(?::{PORT})?(?P<path>/{syntax.path}*)?"
            rf"(?:\?{syntax.query_char}*{syntax.query_end_char})?"
        )

    def finditer(self, text: str) -> Iterator[Found]:
        """The matches ``extractUrl`` finds in ``text``, left to right, none overlapping."""
        domains = _Domains(text)
        resume = 0  # where the previous match ended: the next one's preceding char is here or later
        for start in self._candidates(text, domains):
            before_at = start - 1
            if start == 0:
                if resume > 0:
                    continue
                before = ""  # "^": tried after the preceding character at 0, see _candidates
            elif before_at < resume or not _PRECEDING_CHAR.match(text, before_at):
                continue
            else:
                before = text[before_at]
            found = self._link_at(text, start, before, domains)
            if found is not None:
                resume = found.end
                yield found

    def _candidates(self, text: str, domains: _Domains) -> list[int]:
        """Every position where a link could start, in the order the pattern tries them
        (the pattern tries position 1, after a preceding character at 0, before 0)."""
        starts = set(domains.starts_before_a_dot())
        starts.update(found.start() for found in self._scheme.finditer(text, overlapped=True))
        ordered = sorted(starts)
        if ordered[:2] == [0, 1]:
            ordered[0], ordered[1] = 1, 0
        return ordered

    def _link_at(self, text: str, start: int, before: str, domains: _Domains) -> Found | None:
        scheme = self._scheme.match(text, start)
        if scheme is not None:
            end = domains.end_from(scheme.end())
            if end is not None:
                return self._finish(text, before, start, scheme[0], scheme.end(), end)
        end = domains.end_from(start)
        if end is not None:
            return self._finish(text, before, start, None, start, end)
        return None

    def _finish(
        self, text: str, before: str, start: int, scheme: str | None, at: int, end: int
    ) -> Found:
        rest = self._rest.match(text, end)  # port, path, query: all optional, so it matches
        assert rest is not None
        return Found(before, start, rest.end(), scheme, text[at:end], rest["path"])


class _Domains:
    """The domains of one text: where the greedy domain pattern ends from a start."""

    def __init__(self, text: str) -> None:
        self._text = text
        runs = [(found.start(), found.end()) for found in _RUN.finditer(text)]
        self._run_starts = [start for start, _ in runs]
        self._runs = runs
        self._last_underscore = [text.rfind("_", start, end) for start, end in runs]
        self._ends: dict[int, int | None] = {}
        self._tlds: dict[int, int | None] = {}

    def starts_before_a_dot(self) -> Iterator[int]:
        """Every position in a run of label characters that a "." ends."""
        for start, end in self._runs:
            if self._text.startswith(".", end):
                yield from range(start, end)

    def end_from(self, start: int) -> int | None:
        """Where ``sub* name tld`` matched greedily at ``start`` ends, or None."""
        chain: list[tuple[int, int]] = []  # (label start, its ".") awaiting an answer
        at = start
        while at not in self._ends:
            dot = self._subdomain_dot(at)
            if dot is None:
                self._ends[at] = None
                break
            chain.append((at, dot))
            at = dot + 1
        end = self._ends[at]
        for label, dot in reversed(chain):
            if end is None:  # nothing longer: this label as the name, then a TLD
                end = self._tld_after(label, dot)
            self._ends[label] = end
        return end

    def _subdomain_dot(self, at: int) -> int | None:
        """The "." ending a ``validSubdomain`` label at ``at``, or None."""
        text = self._text
        if not _DOMAIN_CHAR.match(text, at):
            return None
        run = bisect.bisect_right(self._run_starts, at) - 1
        dot = self._runs[run][1]
        if not text.startswith(".", dot) or not _DOMAIN_CHAR.match(text, dot - 1):
            return None
        return dot

    def _tld_after(self, label: int, dot: int) -> int | None:
        """The end of a top-level domain after ``label`` as a ``validDomainName`` (no "_")."""
        run = bisect.bisect_right(self._run_starts, label) - 1
        if self._last_underscore[run] >= label:
            return None
        if dot + 1 not in self._tlds:
            found = _TLD.match(self._text, dot + 1)
            self._tlds[dot + 1] = None if found is None else found.end()
        return self._tlds[dot + 1]
