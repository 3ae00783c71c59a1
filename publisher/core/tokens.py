"""Credential tokens, encrypted at rest with Fernet (MultiFernet for key rotation).

The first key in ``PUBLISHER_SECRET_KEY`` encrypts; every key decrypts, so a new key is
rolled in by putting it first and re-encrypting (``publisher rotate-keys``). Without a
configured key the embedded mode (SQLite) generates one into the data directory (mode
0600); with any other database a missing key is a configuration error, never a new key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from publisher.core.settings import Settings
from publisher.errors import ConfigError, TokenError

KEY_FILE = "secret.key"


class TokenBox:
    """Encrypts and decrypts tokens; never logs or returns them anywhere else."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ConfigError("at least one Fernet key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "PUBLISHER_SECRET_KEY must hold Fernet keys (32 url-safe base64 bytes), "
                "comma-separated"
            ) from None

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise TokenError() from None

    def rotate(self, stored: str) -> str:
        """``stored`` re-encrypted under the first key."""
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise TokenError() from None


def _read_when_written(path: Path) -> str:
    """The key another process is writing right now (it created the file first)."""
    for _ in range(100):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise ConfigError(f"{path} is empty: delete it or set PUBLISHER_SECRET_KEY")


def _generated_key(data_dir: Path) -> str:
    path = data_dir / KEY_FILE
    if path.exists():
        return _read_when_written(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    # O_EXCL: two processes starting together agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _keys(settings: Settings) -> tuple[str, ...]:
    """The configured keys, else (embedded SQLite only) the data directory's own key."""
    if not settings.secret_keys and not settings.embedded_database:
        raise ConfigError("PUBLISHER_SECRET_KEY is not set: required with this database")
    return settings.secret_keys or (_generated_key(settings.data_dir),)


def token_box(settings: Settings) -> TokenBox:
    """The box for ``settings``: its configured keys, else (embedded SQLite only) the data
    directory's own key."""
    return TokenBox(_keys(settings))


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A secret for ``purpose`` (e.g. signing dashboard sessions), HMAC-SHA256 of the
    purpose under the first key: one secret for operators to manage, a different key per
    use, and rotating the first key ends whatever the old one signed."""
    return hmac.new(_keys(settings)[0].encode(), purpose.encode(), hashlib.sha256).digest()
