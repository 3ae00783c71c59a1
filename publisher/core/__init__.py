"""The data and its rules: rows, states, lifecycle, settings and the Python API.

Nothing here knows about Celery, HTTP servers or the engine; ``core.service`` is the
Python API that the HTTP API and the main app call.
"""
