"""The dashboard's session cookie and key checks, as pure logic (no server)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from itsdangerous import URLSafeTimedSerializer

from publisher.core.settings import Settings
from publisher.web.session import LOOPBACK_WHO, Sessions


def _settings(tmp_path: Path, full: str = "full-key", readonly: str = "read-key") -> Settings:
    return Settings.from_env(
        {
            "PUBLISHER_DATA_DIR": str(tmp_path),
            "PUBLISHER_SECRET_KEY": Fernet.generate_key().decode(),
            "PUBLISHER_API_KEYS": full,
            "PUBLISHER_READONLY_API_KEYS": readonly,
        }
    )


@pytest.mark.parametrize(
    ("given", "readonly"),
    [("full-key", False), ("read-key", True), ("wrong", None), ("", None), ("full-ke", None)],
)
def test_a_key_opens_the_session_it_is_configured_for(
    tmp_path: Path, given: str, readonly: bool | None
) -> None:
    session = Sessions(_settings(tmp_path)).login(given)
    assert (None if session is None else session.readonly) == readonly


def test_a_session_round_trips_and_names_no_key(tmp_path: Path) -> None:
    sessions = Sessions(_settings(tmp_path))
    session = sessions.login("full-key")
    assert session is not None
    cookie = sessions.dump(session)
    assert "full-key" not in cookie and "full-key" not in session.who
    assert sessions.load(cookie) == session
    assert sessions.login("full-key") != session  # a new CSRF token per login


def test_a_tampered_or_foreign_cookie_is_ignored(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    sessions = Sessions(settings)
    session = sessions.login("read-key")
    assert session is not None
    cookie = sessions.dump(session)
    forged = URLSafeTimedSerializer(b"guessed", salt="dashboard").dumps(
        {"w": session.who, "r": False, "c": "x"}
    )
    other_secret = dataclasses.replace(settings, secret_keys=(Fernet.generate_key().decode(),))
    for bad in (None, "", "garbage", cookie[:-2] + "xx", forged):
        assert sessions.load(bad) is None
    assert Sessions(other_secret).load(cookie) is None  # a rotated secret ends sessions


def test_a_readonly_session_cannot_claim_full_access(tmp_path: Path) -> None:
    """The fingerprint is checked against the keys of the session's own kind."""
    sessions = Sessions(_settings(tmp_path))
    session = sessions.login("read-key")
    assert session is not None
    promoted = dataclasses.replace(session, readonly=False)
    assert sessions.load(sessions.dump(promoted)) is None


def test_without_keys_only_the_loopback_session_exists(tmp_path: Path) -> None:
    open_settings = _settings(tmp_path, full="", readonly="")
    sessions = Sessions(open_settings)
    assert sessions.open_to_loopback and sessions.login("") is None
    cookie = sessions.dump(sessions.loopback())
    loaded = sessions.load(cookie)
    assert loaded is not None and loaded.who == LOOPBACK_WHO and not loaded.readonly
    # Once a key is configured, the loopback session is over
    keyed = dataclasses.replace(open_settings, api_keys=("full-key",))
    assert Sessions(keyed).load(cookie) is None
