"""publisher: publishes approved posts to third-party APIs, on time and exactly once.

The subpackages are the layers, each importing only from those below it (a test keeps
it so, ``tests/unit/test_layers.py``):

- ``demo``: ``publisher demo``, a scripted run against the sandbox.
- ``ops``: the Celery glue (app, tasks, beat scheduler), ``publisher run``'s supervisor and
  embedded Redis, the watchdog.
- ``api``: the HTTP API for the main app.
- ``engine``: the sweep -> worker path (lock, plan, call, classify, act, call log), with
  its metrics and Sentry reports in ``engine.telemetry``.
- ``core``: the data and its rules: models, states, lifecycle, the Python API
  (``core.service``), database, settings, tokens, notifications outbox, recurrence.
- ``providers``: one module per third-party API behind ``providers.base.Provider``.
- ``errors``: the one error hierarchy every layer raises.

``sandbox`` (stand-ins for the providers) imports nothing else of publisher, and only
``demo`` uses it. ``cli`` (the ``publisher`` command) sits on top of everything.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``celery -A publisher`` looks up ``publisher.app``: the app, built on first use."""
    if name == "app":
        from publisher.ops.celery_app import app

        return app
    raise AttributeError(f"module 'publisher' has no attribute {name!r}")
