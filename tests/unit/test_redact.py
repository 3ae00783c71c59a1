"""Secrets never reach the call log, logs or events."""

from __future__ import annotations

from publisher.core import redact
from publisher.core.constants import REDACTED


def test_secret_headers_are_replaced() -> None:
    out = redact.headers({"Authorization": "Bearer abc", "Content-Type": "json"})
    assert out == {"Authorization": REDACTED, "Content-Type": "json"}


def test_known_secret_is_scrubbed_anywhere() -> None:
    assert "tok-1234" not in redact.text("echo: tok-1234 and tok-1234", ["tok-1234"])


def test_json_body_fields_are_redacted_and_bounded() -> None:
    body = redact.body(b'{"status": "hi", "access_token": "abcd1234"}')
    assert body is not None and "abcd1234" not in body and "hi" in body
    long = redact.body("x" * 100_000)
    assert long is not None and len(long) < 9_000


def test_nested_data() -> None:
    event = {"request": {"headers": {"authorization": "Bearer x"}}, "extra": [{"token": "t"}]}
    assert redact.data(event) == {
        "request": {"headers": {"authorization": REDACTED}},
        "extra": [{"token": REDACTED}],
    }


def test_nul_characters_are_dropped() -> None:
    assert redact.body(b"accepted\x00") == "accepted"
    assert redact.text("a\x00b") == "ab"
