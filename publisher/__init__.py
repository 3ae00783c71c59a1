"""publisher: publishes approved posts to third-party APIs, on time and exactly once.

``celery -A publisher worker`` finds the Celery app in ``publisher.celery``.
"""
