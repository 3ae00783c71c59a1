"""Token encryption with rotation, and configuration from the environment."""

from __future__ import annotations

from dataclasses import replace
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
    assert settings.max_backlog == 50_000


def test_retry_after_max_is_read() -> None:
    assert Settings.from_env({"PUBLISHER_RETRY_AFTER_MAX": "90"}).retry_after_max == 90.0


def test_max_backlog_is_read() -> None:
    assert Settings.from_env({"PUBLISHER_MAX_BACKLOG": "2000"}).max_backlog == 2000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PUBLISHER_MAX_ATTEMPTS": "many"}, "PUBLISHER_MAX_ATTEMPTS must be an integer"),
        ({"PUBLISHER_SWEEP_INTERVAL": "0"}, "PUBLISHER_SWEEP_INTERVAL must be >= 0.1"),
        ({"PUBLISHER_LEASE_SECONDS": "10"}, "PUBLISHER_LEASE_SECONDS (10) must exceed"),
        ({"PUBLISHER_RETRY_AFTER_MAX": "-1"}, "PUBLISHER_RETRY_AFTER_MAX must be >= 0"),
        ({"PUBLISHER_MAX_BACKLOG": "0"}, "PUBLISHER_MAX_BACKLOG must be >= 1"),
        ({"PUBLISHER_MAX_BACKLOG": "lots"}, "PUBLISHER_MAX_BACKLOG must be an integer"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_lists_are_split() -> None:
    settings = Settings.from_env({"PUBLISHER_API_KEYS": "a, b,,c"})
    assert settings.api_keys == ("a", "b", "c")


NO_KEY_DATABASES = ["postgresql://u:pw@db.internal/p", "postgresql+psycopg://u@h/p", "mysql://h/d"]


@pytest.mark.parametrize("url", NO_KEY_DATABASES)
def test_a_database_other_than_the_embedded_sqlite_needs_the_secret_key(
    url: str, tmp_path: Path
) -> None:
    env = {"PUBLISHER_DATA_DIR": str(tmp_path), "PUBLISHER_DATABASE_URL": url}
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY is not set"):
        Settings.from_env(env)
    assert not (tmp_path / "secret.key").exists()
    keyed = Settings.from_env({**env, "PUBLISHER_SECRET_KEY": Fernet.generate_key().decode()})
    assert token_box(keyed).decrypt(token_box(keyed).encrypt("x")) == "x"
    # Settings built in code skip from_env's check: the box refuses to invent a key too
    unchecked = replace(keyed, secret_keys=())
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY"):
        token_box(unchecked)
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.parametrize(
    ("database", "allow", "notify_url", "refused"),
    [
        ("sqlite:///x.db", "", "http://127.0.0.1:9000/n", False),  # embedded: allowed
        ("sqlite:///x.db", "false", "http://127.0.0.1:9000/n", True),
        ("postgresql://u@h/p", "", "http://127.0.0.1:9000/n", True),  # default: refused
        ("postgresql://u@h/p", "", "http://10.0.0.8/n", True),
        ("postgresql://u@h/p", "true", "http://10.0.0.8/n", False),
        ("postgresql://u@h/p", "true", "http://169.254.169.254/n", True),  # never
        ("sqlite:///x.db", "", "http://metadata.google.internal/n", True),
        ("sqlite:///x.db", "", "ftp://app.example/n", True),
        ("postgresql://u@h/p", "", "https://app.example/n", False),
    ],
)
def test_notify_url_destination_is_checked_at_start(
    database: str, allow: str, notify_url: str, refused: bool
) -> None:
    env = {
        "PUBLISHER_DATABASE_URL": database,
        "PUBLISHER_SECRET_KEY": Fernet.generate_key().decode(),
        "PUBLISHER_ALLOW_PRIVATE_URLS": allow,
        "PUBLISHER_NOTIFY_URL": notify_url,
        "PUBLISHER_NOTIFY_SECRET": "s",
    }
    if refused:
        with pytest.raises(ConfigError, match="PUBLISHER_NOTIFY_URL"):
            Settings.from_env(env)
    else:
        Settings.from_env(env)


def test_private_urls_are_allowed_by_default_only_with_the_embedded_sqlite() -> None:
    key = Fernet.generate_key().decode()
    assert Settings.from_env({}).allow_private_urls
    pg = {"PUBLISHER_DATABASE_URL": "postgresql://u@h/p", "PUBLISHER_SECRET_KEY": key}
    assert not Settings.from_env(pg).allow_private_urls
    assert Settings.from_env({**pg, "PUBLISHER_ALLOW_PRIVATE_URLS": "yes"}).allow_private_urls
    with pytest.raises(ConfigError, match="PUBLISHER_ALLOW_PRIVATE_URLS must be true or false"):
        Settings.from_env({"PUBLISHER_ALLOW_PRIVATE_URLS": "maybe"})
