"""Broker and Redis constants of the Celery processes, each with the reason for its value."""

from __future__ import annotations

# Celery's Redis transport re-delivers an unacknowledged message after this long (s). It
# must exceed the longest countdown (one lookahead) plus the longest task (one lease).
BROKER_VISIBILITY_TIMEOUT = 1_800

# The publish queue, and the control queue (sweep, notification deliveries, prune),
# consumed by its own worker process so a backlog of publish messages or slow providers
# never delay a sweep (and with it every post's start time and every lease rescue).
QUEUE = "publisher"
CONTROL_QUEUE = "publisher.control"

# Redis keys: every key publisher writes starts with this prefix.
REDIS_PREFIX = "publisher:"
REDIS_HEARTBEAT_KEY = REDIS_PREFIX + "sweep:heartbeat"
# Set for 55 s after a Sentry Crons check-in, so the sweep checks in about once a minute
# whichever worker process runs it.
SENTRY_CHECK_IN_KEY = REDIS_PREFIX + "sentry:check-in"
# Job leases (``job_lease``): each held while its job runs, so one of each runs at a time.
# Held while one process delivers notifications, renewed after each delivery; it lapses
# by itself this long after a dead process's last renewal: ample for one delivery at the
# longest timeouts.
NOTIFY_LOCK_KEY = REDIS_PREFIX + "notify:lock"
NOTIFY_LOCK_SECONDS = 600
# Held while a sweep runs and renewed after every batch (a batch of sends takes about a
# second), so it outlives the longest sweep; it lapses by itself this long after a dead
# sweep's last renewal: 6 intervals, 60 s at least (ample for one batch, however slow the
# database, and short enough not to stall the pipeline for long).
SWEEP_LOCK_KEY = REDIS_PREFIX + "sweep:lock"
SWEEP_LOCK_INTERVALS = 6
SWEEP_LOCK_MIN_SECONDS = 60.0

# A publish message whose worker could not reach the database is sent again after this
# many seconds, doubling per try up to the maximum: a short outage costs seconds, a long
# one a message a minute per waiting post.
DB_RETRY_BASE = 1.0
DB_RETRY_MAX = 60.0

# The message header carrying when a publish message was sent (epoch seconds).
SENT_AT_HEADER = "publisher_sent_at"

# Held while a prune (the retention job) runs, so at most one runs at a time. Extended
# after every batch, so it outlives a long prune, and expires soon after a dead one.
PRUNE_LOCK_KEY = REDIS_PREFIX + "prune:lock"
PRUNE_LOCK_SECONDS = 300

# Threads of the control worker (``publisher control``): the sweep, the notification
# deliveries and the prune each hold a Redis lock, so at most one of each runs; a thread
# apiece keeps a slow main app (notifications) from delaying a sweep.
CONTROL_CONCURRENCY = 4
