"""Running publisher: the Celery glue, ``publisher run``, and the watchdog.

``celery_app`` configures Celery, ``tasks`` are one-line wrappers over the engine,
``beat_scheduler`` keeps the sweep's schedule entry alive, ``supervisor`` and
``embedded_redis`` run everything on a laptop, ``watchdog`` checks that the sweep runs.
"""
