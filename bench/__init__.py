"""Benchmarks for publisher on real components: redis-server, Celery worker processes,
SQLite or PostgreSQL, and the sandbox standing in for the providers.

Run from the repository root: ``.venv/bin/python -m bench [name|all|report] [--quick]
[--db ...] [--allow-dirty]``. Each benchmark prints a table and writes
``bench/results/<name>.json`` (``bench/results/quick/`` with ``--quick``);
``docs/benchmarks.md`` is generated from those files (``bench.docs``).
"""

DATABASES = ("sqlite", "postgres")
