"""The baseline: a bare Celery task making the same HTTP call as a publish, nothing else.

No database, no claim, no call log: it POSTs JSON to the sandbox's webhook endpoint with a
pooled ``requests.Session``. It runs with the publisher's Celery settings that shape
throughput (Redis broker, late acks, prefetch 4, JSON) on its own queue, started the same
way: ``celery -A bench.bare_app worker``. The broker comes from ``BENCH_BROKER_URL``.
"""

from __future__ import annotations

import os

import requests
from celery import Celery
from celery.signals import worker_process_init

QUEUE = "bench-bare"
TASK = "bench.bare.publish"
TIMEOUT = (5.0, 30.0)  # the publisher's default connect and read timeouts

app = Celery("bench_bare")
app.conf.update(
    broker_url=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"),
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 1_800},
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=4,
    worker_hijack_root_logger=False,
)

_http: requests.Session | None = None


@worker_process_init.connect
def _fresh_process(**_kwargs: object) -> None:
    global _http
    _http = None  # a connection pool must not be shared across the prefork fork


def _session() -> requests.Session:
    global _http
    if _http is None:
        _http = requests.Session()
    return _http


@app.task(name=TASK, ignore_result=True)
def publish(url: str, text: str, key: str) -> str:
    response = _session().post(
        url,
        json={"idempotency_key": key, "options": {}, "text": text},
        headers={"Idempotency-Key": key},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    return str(response.json()["id"])
