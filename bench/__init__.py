"""Benchmarks for publisher on real components: redis-server, Celery worker processes,
SQLite or PostgreSQL, and the sandbox standing in for the providers.

Run from the repository root: ``.venv/bin/python -m bench [name|all] [--quick] [--db ...]``.
Each benchmark prints a table and writes ``bench/results/<name>.json``; the figures and
what they mean are in ``docs/benchmarks.md``.
"""
