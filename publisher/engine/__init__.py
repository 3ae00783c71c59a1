"""The publishing engine: the sweep enqueues due posts, the worker publishes one.

``worker.process`` takes a post through lock -> plan (validate, authorize) -> the
provider call (``exchange``) -> classify -> act, writing the call log (``call_log``) on
the way. Plain code: the Celery tasks in ``publisher.ops.tasks`` only call into it.
"""
