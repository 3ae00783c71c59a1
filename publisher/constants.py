"""Named constants, each with the reason for its value."""

from __future__ import annotations

# Call-log bodies and headers are cut to this many characters: enough to read a provider's
# error, small enough that millions of rows stay cheap.
CALL_LOG_BODY_LIMIT = 8_192

# What replaces a secret in the call log, logs and Sentry events.
REDACTED = "[redacted]"

# Header and JSON field names whose values are secrets (compared case-insensitively).
SECRET_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "token",
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "secret",
        "x-publisher-signature",
    }
)

# A worker will not start a call with less lease left than the call can take plus this
# margin (s): past the lease the sweep may hand the post to another worker.
LEASE_SAFETY_MARGIN = 10.0

# A message may start this early (s) before next_run_at: beat's and workers' clocks differ a
# little, and a claim refused for being 50 ms early would wait a whole grace period.
CLAIM_EARLY_TOLERANCE = 1.0

# Celery's Redis transport re-delivers an unacknowledged message after this long (s). It
# must exceed the longest countdown (one lookahead) plus the longest task (one lease).
BROKER_VISIBILITY_TIMEOUT = 1_800

# Redis keys: every key publisher writes starts with this prefix.
REDIS_PREFIX = "publisher:"
REDIS_HEARTBEAT_KEY = REDIS_PREFIX + "sweep:heartbeat"
# Set for 55 s after a Sentry Crons check-in, so the sweep checks in about once a minute
# whichever worker process runs it.
SENTRY_CHECK_IN_KEY = REDIS_PREFIX + "sentry:check-in"
# Held while one process delivers notifications; it expires on its own if that process
# dies, long enough for one batch of deliveries at the longest timeouts.
NOTIFY_LOCK_KEY = REDIS_PREFIX + "notify:lock"
NOTIFY_LOCK_SECONDS = 600
# Held while a sweep runs; expires by itself if that process dies (6 intervals, 60 s at
# least: longer than any sweep should take, short enough not to stall the pipeline).
SWEEP_LOCK_KEY = REDIS_PREFIX + "sweep:lock"
