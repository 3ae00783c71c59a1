"""The engine's timing constants, each with the reason for its value."""

from __future__ import annotations

# A worker will not start a call with less lease left than the call can take plus this
# margin (s): past the lease the sweep may hand the post to another worker.
LEASE_SAFETY_MARGIN = 10.0

# A message may start this early (s) before next_run_at: beat's and workers' clocks differ a
# little, and a claim refused for being 50 ms early would wait a whole grace period.
CLAIM_EARLY_TOLERANCE = 1.0

# A provider's answer is read up to this many bytes (1 MiB): far above any real answer to
# a create or a lookup page; a bigger one is treated as unreadable (and, for a create,
# ambiguous) instead of filling the worker's memory.
MAX_RESPONSE_BYTES = 1 << 20

# The lease is written again before a provider request when it was last written longer
# ago than this (s): the claim itself just wrote it, so the first call needs no write.
LEASE_RENEW_AFTER = 1.0

# A post's enqueue mark is written just before its message is sent (s): a batch of sends
# and the clocks of the processes that send take at most this long, so a mark this much
# older than the oldest waiting message cannot belong to a message still in the queue.
SEND_MARGIN = 5.0
