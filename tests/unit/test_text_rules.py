"""Text rules other than X's: graphemes, code points, Mastodon's status length, and the
JavaScript case matching the ported link patterns rely on."""

from __future__ import annotations

import pytest

from publisher.providers.text import graphemes, js_case, mastodon_length, rule

GRAPHEMES = [
    # (what it shows, text, grapheme clusters)
    ("empty", "", 0),
    ("ASCII", "abc", 3),
    ("a letter and a combining accent", "e\u0301", 1),
    ("two flags", "🇯🇵🇫🇷", 2),
    ("a family joined by zero-width joiners", "👨‍👩‍👧‍👦", 1),
    ("a skin tone sequence", "👍🏽", 1),
    ("CR LF", "\r\n", 1),
    ("a Hangul syllable in jamo", "\u1100\u1161\u11a8", 1),
    ("a Devanagari conjunct", "क्षि", 1),
]


@pytest.mark.parametrize(
    ("text", "count"), [pytest.param(text, count, id=what) for what, text, count in GRAPHEMES]
)
def test_grapheme_count(text: str, count: int) -> None:
    assert graphemes.count(text) == count


def test_grapheme_rule_for_a_300_grapheme_network() -> None:
    bluesky = graphemes.grapheme_rule(300)
    assert (bluesky.limit, bluesky.counted) == (300, "graphemes")
    assert bluesky.measure("👨‍👩‍👧‍👦" * 300, {}) == 300  # 3,300 code points


def test_code_point_rule() -> None:
    webhook = rule.code_point_rule(100_000)
    assert webhook.measure("👨‍👩‍👧‍👦", {}) == 7
    assert webhook.refusal("anything") is None


MASTODON = [
    # (what it shows, text, content warning, length as Mastodon counts it)
    ("plain text", "hello", "", 5),
    ("a link counts 23", "https://example.com/" + "a" * 100, "", 23),
    ("only links with a scheme count 23", "see example.com", "", 15),
    ("a gemini link counts 23", "gemini://example.com/x", "", 23),
    ("a t.co link ends at its slug", "https://t.co/abc/def", "", 27),
    ("a remote mention counts its local part", "@alice@example.social", "", 6),
    ("a local mention counts as written", "hi @alice", "", 9),
    ("an address is no mention", "mail me@example.com", "", 19),
    ("graphemes, not code points", "👨‍👩‍👧‍👦 e\u0301", "", 3),
    ("the content warning counts", "hi", "cw", 4),
    ("500 is 500", "x" * 500, "", 500),
]


@pytest.mark.parametrize(
    ("text", "spoiler", "length"),
    [pytest.param(text, cw, length, id=what) for what, text, cw, length in MASTODON],
)
def test_mastodon_length(text: str, spoiler: str, length: int) -> None:
    assert mastodon_length.length(text, spoiler) == length


def test_mastodon_rule_reads_the_content_warning_option() -> None:
    assert mastodon_length.RULE.measure("hi", {"spoiler_text": "cw"}) == 4
    assert mastodon_length.RULE.measure("hi", {"spoiler_text": None}) == 2
    assert mastodon_length.RULE.limit == 500


def test_mastodon_rewrites_links_and_mentions() -> None:
    text = "to @ann@example.social: https://example.com/long/path"
    assert mastodon_length.countable_text(text) == "to @ann: " + "x" * 23


@pytest.mark.parametrize(
    ("char", "matches"),
    [
        ("a", {"a", "A"}),
        ("\u0440", {"\u0440", "\u0420"}),  # Cyrillic er, both cases
        ("s", {"s", "S"}),  # never the long s (U+017F), unlike Python's case folding
        ("k", {"k", "K"}),  # never the Kelvin sign (U+212A)
        ("1", {"1"}),
    ],
)
def test_javascript_case_variants(char: str, matches: set[str]) -> None:
    assert set(js_case.variants(char)) == matches
