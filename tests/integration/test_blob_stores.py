"""The blob stores: the directory store on disk, and the S3 store against a real
S3-compatible server (moto's standalone server, started here as a subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from publisher.core import blobs
from publisher.core.blobs import BlobStore, DirectoryStore, new_key
from publisher.core.settings import Settings
from publisher.errors import BlobMissing, ConfigError

STARTUP_SECONDS = 30.0  # moto's server imports every AWS service model on start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto.server", reason="moto[server] (the test extra) is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_serving(process: subprocess.Popen[bytes], url: str) -> None:
    """Returns once the server answers an HTTP request (the event we wait for)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited with {process.returncode}")
        try:
            # Once connected, wait for the answer: on a busy machine (parallel workers) the
            # first request, which loads moto's models, can take seconds.
            requests.get(url, timeout=(1, max(deadline - time.monotonic(), 1)))
            return
        except requests.ConnectionError:
            time.sleep(0.05)  # polling for the port to open, not waiting for an outcome
    raise RuntimeError(f"moto's server did not answer within {STARTUP_SECONDS} s")


@pytest.fixture
def s3_store(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlobStore:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"media-{os.getpid()}-{tmp_path.name}".lower().replace("_", "-")[:60]
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    env = {
        "PUBLISHER_DATA_DIR": str(tmp_path),
        "PUBLISHER_BLOB_URL": f"s3://{bucket}/publisher/media",
        "PUBLISHER_S3_ENDPOINT_URL": s3_endpoint,
    }
    store = blobs.from_settings(Settings.from_env(env))
    assert isinstance(store, blobs.S3Store)
    return store


@pytest.fixture
def dir_store(tmp_path: Path) -> BlobStore:
    store = blobs.from_settings(Settings.from_env({"PUBLISHER_DATA_DIR": str(tmp_path)}))
    assert isinstance(store, DirectoryStore)
    assert store.root == tmp_path / "media"
    return store


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    found: BlobStore = request.getfixturevalue(
        f"{'dir' if request.param == 'directory' else 's3'}_store"
    )
    return found


def test_put_get_delete_round_trip(store: BlobStore) -> None:
    key = new_key()
    content = bytes(range(256)) * 1000
    store.put(key, content)
    assert store.get(key) == content
    store.put(key, b"replaced")
    assert store.get(key) == b"replaced"
    store.delete(key)
    with pytest.raises(BlobMissing):
        store.get(key)
    store.delete(key)  # deleting what is gone is harmless


def test_a_missing_key_is_blob_missing(store: BlobStore) -> None:
    with pytest.raises(BlobMissing):
        store.get(new_key())


@pytest.mark.parametrize("key", ["../escape", "/absolute", "a/../../b", "", "a b", "x" * 201])
def test_keys_are_publishers_own(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_a_directory_put_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stored blob, and a write that fails halfway
    store = DirectoryStore(tmp_path)
    key = new_key()
    store.put(key, b"first")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put(key, b"second, never complete")
    # Then the first content is intact and no temporary file is left behind
    assert store.get(key) == b"first"
    assert [p.name for p in (tmp_path / key).parent.iterdir()] == [key.rsplit("/", 1)[1]]


def test_an_s3_url_without_bucket_and_unknown_schemes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bucket"):
        blobs.from_settings(
            Settings.from_env(
                {"PUBLISHER_DATA_DIR": str(tmp_path), "PUBLISHER_BLOB_URL": "s3:///x"}
            )
        )
    with pytest.raises(ConfigError, match="file:// or s3://"):
        Settings.from_env({"PUBLISHER_DATA_DIR": str(tmp_path), "PUBLISHER_BLOB_URL": "ftp://x/y"})


def test_media_settings(tmp_path: Path) -> None:
    defaults = Settings.from_env({"PUBLISHER_DATA_DIR": str(tmp_path)})
    assert defaults.media_max_bytes == 100 * 1024 * 1024
    assert defaults.blob_url == (tmp_path / "media").as_uri()
    assert defaults.s3_endpoint_url is None
    env = {"PUBLISHER_DATA_DIR": str(tmp_path), "PUBLISHER_MEDIA_MAX_BYTES": "2048"}
    assert Settings.from_env(env).media_max_bytes == 2048
    with pytest.raises(ConfigError, match="PUBLISHER_MEDIA_MAX_BYTES must be >= 1024"):
        Settings.from_env({**env, "PUBLISHER_MEDIA_MAX_BYTES": "10"})
