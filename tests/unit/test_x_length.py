"""X's weighted length (``providers.text.x_length``) against twitter-text.

Two tables: our own cases (each value checked against twitter-text 3.1.0's ``parseTweet``
when written), which always run; and twitter-text's conformance cases, read from its
``conformance/validate.yml`` (https://github.com/twitter/twitter-text, Apache-2.0), every
case of ``WeightedTweetsCounterTest`` (config v2, as twitter-text's own runs use),
``WeightedTweetsWithDiscountedEmojiCounterTest`` and ``UnicodeDirectionalMarkerCounterTest``
(config v3) as one row. The file is not part of this repository: the rows run when it is at
``$TWITTER_TEXT_CONFORMANCE`` or ``shared/twitter-text/validate.yml`` beside the checkout,
and are one skipped row naming those places otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from publisher.providers.text import emoji_sequences, x_length, x_links

CONFORMANCE_ENV = "TWITTER_TEXT_CONFORMANCE"
SHARED_COPY = Path(__file__).resolve().parents[3] / "shared" / "twitter-text" / "validate.yml"
SECTIONS = {
    # section: whether its cases count emoji sequences once (config v3) or not (v2)
    "WeightedTweetsCounterTest": False,
    "WeightedTweetsWithDiscountedEmojiCounterTest": True,
    "UnicodeDirectionalMarkerCounterTest": True,
}
# Cases that cannot pass, with the reason (none so far): {description: reason}.
KNOWN_DIFFERENCES: dict[str, str] = {}


def _conformance_file() -> Path | None:
    for candidate in (os.environ.get(CONFORMANCE_ENV), SHARED_COPY):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _conformance_rows() -> list[Any]:
    path = _conformance_file()
    if path is None:
        reason = f"twitter-text's validate.yml is at neither ${CONFORMANCE_ENV} nor {SHARED_COPY}"
        return [pytest.param(None, True, marks=pytest.mark.skip(reason=reason), id="missing")]
    tests = yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
    rows = []
    for section, emoji_parsing in SECTIONS.items():
        for case in tests[section]:
            reason = KNOWN_DIFFERENCES.get(case["description"])
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            rows.append(
                pytest.param(
                    case, emoji_parsing, marks=marks, id=f"{section}-{case['description']}"
                )
            )
    return rows


@pytest.mark.parametrize(("case", "emoji_parsing"), _conformance_rows())
def test_conformance(case: dict[str, Any], emoji_parsing: bool) -> None:
    weighed = x_length.weigh(case["text"], emoji_parsing=emoji_parsing)
    expected = case["expected"]
    assert (weighed.weighted_length, weighed.valid) == (
        expected["weightedLength"],
        expected["valid"],
    )


OWN_CASES = [
    # (what it shows, text, weighted length, valid)
    ("plain ASCII counts one each", "hello world", 11, True),
    (
        "a link with a scheme counts 23",
        "read https://example.com/a/very/long/path/that/goes/on/and/on?x=1 now",
        32,
        True,
    ),
    (
        "a link without a scheme counts 23",
        "see example.com/docs/getting-started/installation-guide",
        27,
        True,
    ),
    ("a t.co link ends at its slug", "https://t.co/abcDEF123/extra", 29, True),
    ("a t.co slug over 40 is no link", "https://t.co/" + "a" * 50, 63, True),
    ("an unknown top-level domain is no link", "example.notatld/path", 20, True),
    ("a hyphen before a scheme-less link voids it", "-example.com", 12, True),
    ("a label over 63 characters voids the link", "https://" + "a" * 64 + ".com", 76, True),
    ("CJK counts two each", "日本語のテキスト", 16, True),
    ("Hangul counts two each", "안녕하세요", 10, True),
    ("Cyrillic and Greek count one each", "Привет Καλημέρα", 15, True),
    (
        "general punctuation in range counts one",
        "\u2018quoted\u2019 \u2013 dash \u2026 ellipsis",
        27,
        True,
    ),
    ("a family emoji counts two", "👨‍👩‍👧‍👦", 2, True),
    ("a flag counts two", "🇯🇵", 2, True),
    ("a keycap counts two", "#️⃣", 2, True),
    ("a skin tone sequence counts two", "👍🏽", 2, True),
    ("the copyright sign alone is text", "©", 1, True),
    ("the copyright sign with the emoji selector is an emoji", "©️", 2, True),
    ("decomposed accents are composed first", "e\u0301e\u0301e\u0301", 3, True),
    ("a byte order mark makes the text invalid", "abc\ufeff", 5, False),
    ("empty is invalid", "", 0, False),
    ("280 ASCII is valid", "a" * 280, 280, True),
    ("281 ASCII is invalid", "a" * 281, 281, False),
    ("an uppercase scheme is a link", "HTTPS://EXAMPLE.COM", 23, True),
    ("a Cyrillic domain is a link with a scheme", "http://пример.рф", 23, True),
    ("a punycode domain is a link", "xn--80ak6aa92e.com", 23, True),
    (
        "balanced parentheses stay in the path",
        "https://en.wikipedia.org/wiki/Python_(programming_language).",
        24,
        True,
    ),
    ("a link takes every label it can", "a.com.uk", 23, True),
    # The pattern tries a link after a first character that may precede one before a link
    # at 0: here the one at 0 would have a label over 63 in punycode.
    ("a link after a leading CJK character starts after it", "語" + "a" * 62 + ".com", 25, True),
    # JavaScript's case-insensitive matching never maps U+017F (long s) to "s".
    ("a long s after a top-level domain ends it", "example.com\u017f", 24, True),
]


@pytest.mark.parametrize(
    ("text", "weighted_length", "valid"),
    [pytest.param(text, length, valid, id=what) for what, text, length, valid in OWN_CASES],
)
def test_own_cases(text: str, weighted_length: int, valid: bool) -> None:
    assert x_length.weigh(text) == x_length.Weighed(weighted_length, valid)


def test_an_emoji_newer_than_twitter_text_counts_two() -> None:
    # twemoji-parser 11 (twitter-text 3.1.0) predates Unicode 12.1's "person: red hair"
    # and counts it 5 (2 + joiner 1 + 2); X today shows it as one emoji.
    assert emoji_sequences.find("🧑‍🦰") == {0: 3}
    assert x_length.weigh("🧑‍🦰").weighted_length == 2


def test_links_positions_and_lengths() -> None:
    found = x_links.find("a example.com/x and https://t.co/abc/def")
    assert [(link.start, link.length, link.url) for link in found] == [
        (2, 13, "example.com/x"),
        (20, 16, "https://t.co/abc"),
    ]


def test_the_rule_refuses_characters_x_never_accepts() -> None:
    assert x_length.refusal("ok") is None
    assert x_length.refusal("a\ufffeb") == "must not contain U+FFFE, which X refuses"


# Texts that kept twitter-text's pattern, run as one regular expression, busy for minutes
# (it retries each start of a long run, and backs off label by label): the scanner
# (link_scan) measures each 100,000-character one in well under a second.
SLOW_SHAPES = [
    ("a run of CJK with a dot", "語" * 100_000 + ".zz"),
    ("CJK labels", "語." * 50_000),
    ("ASCII labels", "ab." * 33_000),
    ("hyphens in a label", "a-" * 50_000 + ".zz"),
    ("underscores in a label", "a_" * 50_000 + "a.zz"),
    ("a long path", "http://a.com/" + "a." * 50_000 + " "),
    ("nested brackets in a path", "http://a.com/" + "(a" * 50_000),
]


@pytest.mark.timeout(30)  # a catastrophic backtrack takes hours: this ends it as a failure
@pytest.mark.parametrize("text", [pytest.param(text, id=what) for what, text in SLOW_SHAPES])
def test_long_adversarial_text_is_measured_without_catastrophic_backtracking(text: str) -> None:
    # Each shape once made a naive link pattern backtrack for hours; its speed is a
    # benchmark's business, this only proves it ends (and measures the whole text).
    assert x_length.weigh(text).weighted_length > 0
