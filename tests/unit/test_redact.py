"""Secrets never reach the call log, logs or events."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# By value: the token in the ways a provider or a library may write it back

TOKEN = 'tok/7f3a+9c=1e"5b\\x~'


def _written(token: str) -> list[str]:
    return [
        token,
        repr(token)[1:-1],
        json.dumps(token)[1:-1],
        json.dumps(token)[1:-1].replace("/", "\\/"),
        quote(token),
        quote(token, safe=""),
        quote_plus(token),
        quote(token, safe="").lower(),
        base64.b64encode(token.encode()).decode(),
        base64.b64encode(f"user:{token}".encode()).decode(),
        base64.b64encode(f"ab:{token}".encode()).decode(),
        base64.urlsafe_b64encode(f"u:{token}:x".encode()).decode(),
        html.escape(token),
    ]


@pytest.mark.parametrize("written", _written(TOKEN), ids=repr)
def test_the_token_goes_in_every_common_encoding(written: str) -> None:
    scrub = redact.Redactor([TOKEN])
    for found in (f"before {written} after", written, f'{{"e": "{written}"}}'):
        out = scrub(found)
        assert REDACTED in out
        for encoded in _written(TOKEN):
            assert encoded not in out


def test_a_message_cut_inside_the_token_loses_the_cut_token_too() -> None:
    scrub = redact.Redactor(["canary-7f3a9c1e5b"])
    assert scrub("HTTP 400: you sent canary-7f3a9") == f"HTTP 400: you sent {REDACTED}"
    assert scrub("short prefixes stay: canar") == "short prefixes stay: canar"


def test_short_or_empty_secrets_redact_nothing() -> None:
    assert not redact.Redactor(["", "abc"])
    assert redact.Redactor(["abc"])("abc abc") == "abc abc"


def test_active_redactor_scrubs_log_lines_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test_redact_filter")
    logger.addHandler(handler)
    logger.propagate = False
    redact.install_log_filter(logger)
    redact.install_log_filter(logger)  # once is enough
    assert len(handler.filters) == 1
    try:
        logger.warning("outside a job: %s", "tok-outside-0")
        with redact.activated(redact.Redactor([TOKEN])):
            logger.warning("sent %s (%r)", TOKEN, TOKEN)
            try:
                raise ValueError(f"bad header {TOKEN!r}")
            except ValueError:
                logger.exception("failed")
        logger.warning("after: %s", TOKEN)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue()
    assert "tok-outside-0" in lines and "ValueError" in lines
    job_part = lines.split("after:")[0]
    for encoded in _written(TOKEN):
        assert encoded not in job_part
    assert TOKEN in lines.split("after:")[1]  # outside the job, nothing is known to scrub


def test_active_redactor_scrubs_a_sentry_like_event() -> None:
    event = {"exception": {"values": [{"value": f"InvalidHeader {TOKEN!r}"}]}, "n": 1}
    with redact.activated(redact.Redactor([TOKEN])):
        scrubbed = redact.active().data(event)
    assert TOKEN not in json.dumps(scrubbed) and repr(TOKEN)[1:-1] not in json.dumps(scrubbed)
    assert scrubbed["n"] == 1


def test_sentry_events_are_scrubbed_with_the_active_redactor() -> None:
    from publisher.engine.telemetry import sentry

    event = {"message": f"crash: {TOKEN!r}", "extra": {"url": f"/cb?t={quote_plus(TOKEN)}"}}
    with redact.activated(redact.Redactor([TOKEN])):
        scrubbed = json.dumps(sentry._scrub(event, None))
    for encoded in _written(TOKEN):
        assert encoded not in scrubbed


def _cut_naively(value: str, needle: str) -> str:
    """The definition: the longest start of ``needle`` that ends ``value`` goes."""
    for size in range(len(needle) - 1, redact.MIN_CUT_PREFIX - 1, -1):
        if value.endswith(needle[:size]):
            return value[:-size] + REDACTED
    return value


@given(
    st.text(alphabet="abAB-_=", max_size=12),
    st.text(alphabet="abAB-_=", min_size=redact.MIN_SECRET, max_size=20),
    st.integers(min_value=0, max_value=20),
)
def test_a_secret_cut_off_at_the_end_goes_as_defined(head: str, needle: str, cut: int) -> None:
    # Given a value that ends with some start of the secret (as a length limit cuts it)
    value = head + needle[:cut]
    # Then what goes is what the definition says
    assert redact._cut_at_end(value, needle) == _cut_naively(value, needle)
