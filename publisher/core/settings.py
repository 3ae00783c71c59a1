"""Configuration from ``PUBLISHER_*`` environment variables (plus ``SENTRY_DSN``).

Every value has a default that is safe on a laptop (the embedded mode): a SQLite file and
an embedded Redis in the data directory, a generated Fernet key stored beside them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from publisher.core.addresses import url_problem
from publisher.errors import ConfigError

DEFAULT_DATA_DIR = "./publisher-data"

# The most publish messages a sweep leaves waiting in the broker (PUBLISHER_MAX_BACKLOG).
# The database is the truth and Redis needs only enough to keep every worker busy until the
# next sweep tops the queue up: 50,000 is one default interval (10 s) of 5,000 publishes/s,
# thirty-odd worker processes at the 120-190 posts/s one process reached in the benchmarks
# (docs/benchmarks.md), so a realistic fleet never waits on the cap. It also bounds what a
# burst costs: about 50 MB of Redis (a message is about 1 KB) and a sweep of under two
# minutes (about 2 ms a message), where 100,000 posts due at once took 170 MB and 215 s.
DEFAULT_MAX_BACKLOG = 50_000

# The largest media file publisher takes (PUBLISHER_MEDIA_MAX_BYTES): above X's and
# Mastodon's default video limits (512 MB on X only for long videos of paying accounts;
# 99 MB on mastodon.social), so no network's ordinary file is refused here first.
DEFAULT_MEDIA_MAX_BYTES = 100 * 1024 * 1024


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in ("1", "true", "yes", "on")


def safe_url(url: str) -> str:
    """``url`` without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


def _days(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    """A retention age in days; ``keep`` (or ``none``) keeps the rows forever."""
    raw = env.get(name, "").strip().lower()
    if raw in ("keep", "none"):
        return None
    if not raw:
        return default
    return _float(env, name, 0.0, minimum=0.0)


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: embedded Redis in data_dir
    api_keys: tuple[str, ...]
    secret_keys: tuple[str, ...]  # empty: a key generated into data_dir
    sentry_dsn: str | None
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    sweep_interval: float = 10.0
    lookahead: float = 10.0
    enqueue_grace: float = 60.0
    sweep_batch: int = 500
    max_backlog: int = DEFAULT_MAX_BACKLOG
    """The most messages a sweep leaves waiting in the publish queue: it sends at most this
    less those waiting (see ``DEFAULT_MAX_BACKLOG`` for the default's reasons); the posts
    beyond stay due in the database, earliest first, for the next sweep."""
    lease_seconds: float = 120.0
    http_connect_timeout: float = 5.0
    http_timeout: float = 30.0
    max_attempts: int = 5
    retry_base: float = 30.0
    retry_max: float = 3600.0
    reapprove_window: float = 86400.0
    notify_url: str | None = None
    notify_secret: str | None = None
    max_body_bytes: int = 1_000_000
    watchdog_due_limit: float = 60.0
    reconcile_timeout: float = 3600.0
    max_rescues: int = 3
    max_lateness: float | None = None  # s; None: a post is published however late
    retry_after_max: float = 3600.0  # cap (s) on a provider's Retry-After / rate-limit reset
    credential_concurrency: int = 1  # calls in flight per credential, unless it says
    worker_concurrency: int = 64  # publish tasks in flight per worker process (threads)
    allow_private_urls: bool = True  # loopback/private destinations (embedded mode only)
    # Retention of finished posts' rows (days; None: kept forever), see core/retention.py.
    retain_calls_days: float | None = 30.0
    retain_events_days: float | None = 90.0
    retain_notifications_days: float | None = 30.0
    retain_posts_days: float | None = None
    retain_batch: int = 1000
    retain_interval: float = 3600.0
    # Where uploaded media files are kept: file:///dir (default: data_dir/media) or
    # s3://bucket/prefix (with PUBLISHER_S3_ENDPOINT_URL for an S3-compatible server).
    blob_url: str = ""
    s3_endpoint_url: str | None = None
    media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES
    # The API's address as webhook receivers reach it (their media URLs point there);
    # None: http://web_host:web_port.
    public_url: str | None = None
    # Keys that open the dashboard read-only (PUBLISHER_READONLY_API_KEYS): see, never act.
    readonly_api_keys: tuple[str, ...] = ()

    @property
    def api_url(self) -> str:
        """Where webhook receivers reach this API (``PUBLISHER_PUBLIC_URL``)."""
        return (self.public_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def embedded_database(self) -> bool:
        """The laptop mode's SQLite: the only database that may run on a generated key."""
        return self.database_url.startswith("sqlite")

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def redis_socket(self) -> Path:
        """Where the embedded Redis listens (a Unix socket: no port to collide with)."""
        return self.data_dir / "redis.sock"

    @property
    def redis_client_url(self) -> str:
        return self.redis_url or f"unix://{self.redis_socket}"

    @property
    def broker_url(self) -> str:
        return self.redis_url or f"redis+socket://{self.redis_socket}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("PUBLISHER_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
        database_url = env.get("PUBLISHER_DATABASE_URL") or f"sqlite:///{data_dir / 'publisher.db'}"
        sweep_interval = _float(env, "PUBLISHER_SWEEP_INTERVAL", 10.0, minimum=0.1)
        settings = cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("PUBLISHER_REDIS_URL") or None,
            api_keys=_list(env, "PUBLISHER_API_KEYS"),
            secret_keys=_list(env, "PUBLISHER_SECRET_KEY"),
            sentry_dsn=env.get("SENTRY_DSN") or None,
            web_host=env.get("PUBLISHER_WEB_HOST") or "127.0.0.1",
            web_port=_int(env, "PUBLISHER_WEB_PORT", 8000, minimum=1),
            sweep_interval=sweep_interval,
            lookahead=_float(env, "PUBLISHER_LOOKAHEAD", sweep_interval),
            enqueue_grace=_float(env, "PUBLISHER_ENQUEUE_GRACE", max(60.0, 3 * sweep_interval)),
            sweep_batch=_int(env, "PUBLISHER_SWEEP_BATCH", 500, minimum=1),
            max_backlog=_int(env, "PUBLISHER_MAX_BACKLOG", DEFAULT_MAX_BACKLOG, minimum=1),
            lease_seconds=_float(env, "PUBLISHER_LEASE_SECONDS", 120.0, minimum=1.0),
            http_connect_timeout=_float(env, "PUBLISHER_HTTP_CONNECT_TIMEOUT", 5.0, minimum=0.1),
            http_timeout=_float(env, "PUBLISHER_HTTP_TIMEOUT", 30.0, minimum=0.1),
            max_attempts=_int(env, "PUBLISHER_MAX_ATTEMPTS", 5, minimum=1),
            retry_base=_float(env, "PUBLISHER_RETRY_BASE", 30.0),
            retry_max=_float(env, "PUBLISHER_RETRY_MAX", 3600.0),
            reapprove_window=_float(env, "PUBLISHER_REAPPROVE_WINDOW", 86400.0),
            notify_url=env.get("PUBLISHER_NOTIFY_URL") or None,
            notify_secret=env.get("PUBLISHER_NOTIFY_SECRET") or None,
            max_body_bytes=_int(env, "PUBLISHER_MAX_BODY_BYTES", 1_000_000, minimum=1024),
            watchdog_due_limit=_float(
                env, "PUBLISHER_WATCHDOG_DUE_LIMIT", max(60.0, 6 * sweep_interval)
            ),
            reconcile_timeout=_float(env, "PUBLISHER_RECONCILE_TIMEOUT", 3600.0),
            max_rescues=_int(env, "PUBLISHER_MAX_RESCUES", 3, minimum=1),
            max_lateness=_float(env, "PUBLISHER_MAX_LATENESS", 0.0) or None,
            retry_after_max=_float(env, "PUBLISHER_RETRY_AFTER_MAX", 3600.0),
            credential_concurrency=_int(env, "PUBLISHER_CREDENTIAL_CONCURRENCY", 1, minimum=1),
            worker_concurrency=_int(env, "PUBLISHER_WORKER_CONCURRENCY", 64, minimum=1),
            allow_private_urls=_bool(
                env, "PUBLISHER_ALLOW_PRIVATE_URLS", database_url.startswith("sqlite")
            ),
            retain_calls_days=_days(env, "PUBLISHER_RETAIN_CALLS_DAYS", 30.0),
            retain_events_days=_days(env, "PUBLISHER_RETAIN_EVENTS_DAYS", 90.0),
            retain_notifications_days=_days(env, "PUBLISHER_RETAIN_NOTIFICATIONS_DAYS", 30.0),
            retain_posts_days=_days(env, "PUBLISHER_RETAIN_POSTS_DAYS", None),
            retain_batch=_int(env, "PUBLISHER_RETAIN_BATCH", 1000, minimum=1),
            retain_interval=_float(env, "PUBLISHER_RETAIN_INTERVAL", 3600.0, minimum=1.0),
            blob_url=env.get("PUBLISHER_BLOB_URL") or (data_dir / "media").as_uri(),
            s3_endpoint_url=env.get("PUBLISHER_S3_ENDPOINT_URL") or None,
            media_max_bytes=_int(
                env, "PUBLISHER_MEDIA_MAX_BYTES", DEFAULT_MEDIA_MAX_BYTES, minimum=1024
            ),
            public_url=env.get("PUBLISHER_PUBLIC_URL") or None,
            readonly_api_keys=_list(env, "PUBLISHER_READONLY_API_KEYS"),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that would break the engine's guarantees."""
        if not self.secret_keys and not self.embedded_database:
            # A process with a key of its own could decrypt no stored token.
            raise ConfigError(
                "PUBLISHER_SECRET_KEY is not set: it is required with any database other "
                "than the embedded SQLite (set the Fernet keys every process shares)"
            )
        problem = self.notify_url and url_problem(self.notify_url, self.allow_private_urls)
        if problem:
            raise ConfigError(f"PUBLISHER_NOTIFY_URL {problem}")
        if self.notify_url and not self.notify_secret:
            raise ConfigError(
                "PUBLISHER_NOTIFY_URL is set but PUBLISHER_NOTIFY_SECRET is not: "
                "notifications are signed with it"
            )
        if self.retain_posts_days is not None and self.retain_posts_days * 86400 <= max(
            self.reconcile_timeout, self.reapprove_window
        ):
            raise ConfigError(
                "PUBLISHER_RETAIN_POSTS_DAYS must exceed PUBLISHER_RECONCILE_TIMEOUT and "
                "PUBLISHER_REAPPROVE_WINDOW: a post they may still need must not be deleted"
            )
        if urlsplit(self.blob_url).scheme not in ("", "file", "s3"):
            raise ConfigError(
                f"PUBLISHER_BLOB_URL must be a file:// or s3:// URL, got {safe_url(self.blob_url)}"
            )
        longest_call = self.http_connect_timeout + self.http_timeout
        if self.lease_seconds <= longest_call:
            raise ConfigError(
                f"PUBLISHER_LEASE_SECONDS ({self.lease_seconds:g}) must exceed the longest "
                f"call, PUBLISHER_HTTP_CONNECT_TIMEOUT + PUBLISHER_HTTP_TIMEOUT "
                f"({longest_call:g}), or a slow call could be run twice"
            )
