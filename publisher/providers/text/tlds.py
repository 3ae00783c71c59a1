"""The top-level domains twitter-text recognises in a link.

A link without a scheme ("example.com/page") is a link only when it ends in a known
top-level domain, so X and Mastodon (which reuse twitter-text's link rules) need the list.
It is twitter-text's own (generic and country-code, kept apart because the two are
separate alternatives of its domain pattern), shipped in ``tlds/`` beside this module
with twitter-text's Apache-2.0 license; the source is named at the top of each file.
"""

from __future__ import annotations

from importlib import resources

_FOLDER = "tlds"


def _read(name: str) -> tuple[str, ...]:
    text = resources.files(__package__).joinpath(_FOLDER, name).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


GENERIC: tuple[str, ...] = _read("generic.txt")
"""Generic top-level domains (com, org, 닷컴, ...), in twitter-text's order."""

COUNTRY: tuple[str, ...] = _read("country.txt")
"""Country-code top-level domains (uk, jp, پاکستان, ...), in twitter-text's order."""
