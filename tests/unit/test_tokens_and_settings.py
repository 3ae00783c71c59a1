"""Token encryption with rotation, and configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from publisher.core.settings import Settings
from publisher.core.tokens import TokenBox, token_box
from publisher.errors import ConfigError, TokenError


def test_encrypt_decrypt_and_rotate() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenBox((old,)).encrypt("secret")
    assert "secret" not in stored
    rotated_box = TokenBox((new, old))
    assert rotated_box.decrypt(stored) == "secret"
    rotated = rotated_box.rotate(stored)
    assert TokenBox((new,)).decrypt(rotated) == "secret"
    with pytest.raises(TokenError):
        TokenBox((new,)).decrypt(stored)


def test_bad_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        TokenBox(("not-a-key",))


def test_embedded_key_is_generated_once(tmp_path: Path) -> None:
    settings = Settings.from_env({"PUBLISHER_DATA_DIR": str(tmp_path)})
    first = token_box(settings).encrypt("x")
    assert token_box(settings).decrypt(first) == "x"
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings.from_env({"PUBLISHER_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'publisher.db'}"
    assert settings.embedded_redis and settings.broker_url.startswith("redis+socket://")
    assert settings.sweep_interval == 10.0 and settings.max_attempts == 5
    assert settings.api_keys == ()
    assert settings.retry_after_max == 3600.0


def test_retry_after_max_is_read() -> None:
    assert Settings.from_env({"PUBLISHER_RETRY_AFTER_MAX": "90"}).retry_after_max == 90.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PUBLISHER_MAX_ATTEMPTS": "many"}, "PUBLISHER_MAX_ATTEMPTS must be an integer"),
        ({"PUBLISHER_SWEEP_INTERVAL": "0"}, "PUBLISHER_SWEEP_INTERVAL must be >= 0.1"),
        ({"PUBLISHER_LEASE_SECONDS": "10"}, "PUBLISHER_LEASE_SECONDS (10) must exceed"),
        ({"PUBLISHER_RETRY_AFTER_MAX": "-1"}, "PUBLISHER_RETRY_AFTER_MAX must be >= 0"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_lists_are_split() -> None:
    settings = Settings.from_env({"PUBLISHER_API_KEYS": "a, b,,c"})
    assert settings.api_keys == ("a", "b", "c")
