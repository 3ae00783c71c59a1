"""Where uploaded media files are kept: a ``BlobStore`` (put, get, delete by key).

Two stores, chosen by ``PUBLISHER_BLOB_URL``: a directory (``file:///path``, by default
``media`` under the data directory: the embedded mode) and an S3-compatible bucket
(``s3://bucket/prefix``, production) through boto3, an optional extra
(``pip install 'publisher[s3]'``) imported only when that store is built. Keys are
publisher's own (``new_key``), never a client's filename.

A put is all or nothing: the directory store writes a temporary file and renames it over
the key (``os.replace`` is atomic), S3 stores an object whole. The database row naming a
blob is written after its put, in the caller's transaction: a crash between the two
leaves an unreferenced blob (space, never a post without its file).
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from publisher.core.settings import Settings
from publisher.errors import BlobMissing, ConfigError

# Keys are publisher's own: letters, digits and a few separators, no "..", no leading "/".
KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_./-]{0,199}")


class BlobStore(Protocol):
    def put(self, key: str, content: bytes) -> None:
        """Store ``content`` under ``key`` whole (replacing any earlier content)."""
        ...

    def get(self, key: str) -> bytes:
        """The content under ``key``; raises ``BlobMissing`` when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key``; nothing happens when it is not there."""
        ...


def new_key() -> str:
    """A fresh key, spread over 256 directories so none grows huge."""
    name = uuid.uuid4().hex
    return f"media/{name[:2]}/{name}"


def _checked(key: str) -> str:
    if not KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"not a blob key: {key!r}")
    return key


class DirectoryStore:
    """Blobs as files under ``root`` (created on first put)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, content: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())  # the rename must never expose a partial file
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(f"blob {key} is missing") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """Blobs as objects of ``bucket`` under ``prefix``, through boto3.

    Credentials and region come from boto3's usual sources (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, profiles, instance roles);
    ``endpoint_url`` points it at an S3-compatible server (MinIO, Ceph, R2...). Source:
    https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/s3.html
    (``put_object``, ``get_object``, ``delete_object``; a missing key raises
    ``NoSuchKey``).
    """

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        try:
            import boto3  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ConfigError(
                "PUBLISHER_BLOB_URL is an s3:// URL but boto3 is not installed: "
                "pip install 'publisher[s3]'"
            ) from None
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def _name(self, key: str) -> str:
        key = _checked(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, content: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=content)

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except self.client.exceptions.NoSuchKey:
            raise BlobMissing(f"blob {key} is missing") from None
        body: bytes = answer["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))


def from_settings(settings: Settings) -> BlobStore:
    """The store ``PUBLISHER_BLOB_URL`` names (default: ``media`` in the data directory)."""
    url = settings.blob_url or (settings.data_dir / "media").as_uri()
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ConfigError("PUBLISHER_BLOB_URL s3://bucket/prefix names no bucket")
        return S3Store(parts.netloc, parts.path, settings.s3_endpoint_url)
    if parts.scheme in ("file", ""):
        return DirectoryStore(Path(unquote(parts.path)))
    raise ConfigError(f"PUBLISHER_BLOB_URL must be a file:// or s3:// URL, got {parts.scheme}:")
