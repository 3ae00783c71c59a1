"""Named constants about secrets and the call log, each with the reason for its value."""

from __future__ import annotations

# Call-log bodies and headers are cut to this many characters: enough to read a provider's
# error, small enough that millions of rows stay cheap.
CALL_LOG_BODY_LIMIT = 8_192

# A call's category in the call log beyond the providers' own (``Category``): what the
# engine writes while a call is out, when it ends without an answer, and after a lookup.
IN_FLIGHT = "in_flight"
ABANDONED = "abandoned"
CRASHED = "crashed"  # the worker hit an unexpected error around the call
RECONCILED = "reconciled"  # a lookup found the post an ambiguous attempt created
NOT_FOUND = "reconcile_not_found"
LOOKUP_FAILED = "reconcile_failed"
# The method a lookup's row carries (a reconciliation, not a call publisher chose to make).
LOOKUP_METHOD = "LOOKUP"
# Appended to an attempt's category when it may have created the post (unavailable_ambiguous).
AMBIGUOUS = "_ambiguous"

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
