"""The baseline: a bare Celery task making the same HTTP call as a publish, nothing else.

No database, no claim, no call log: it POSTs the same JSON, with a bearer token like the
webhook provider's, to the sandbox's webhook endpoint through one pooled
``requests.Session`` shared by the worker's threads (a pool as large as publisher's per
host). It runs with the publisher's Celery settings that shape throughput (Redis broker,
late acks, the threads pool, ``PUBLISHER_WORKER_CONCURRENCY`` threads, prefetch 1, JSON)
on its own queue, started the same way: ``celery -A bench.bare_app worker``. The broker
comes from ``BENCH_BROKER_URL``.
"""

from __future__ import annotations

import os
import threading

import requests
from celery import Celery
from requests.adapters import HTTPAdapter

from publisher.core.settings import Settings

QUEUE = "bench-bare"
TASK = "bench.bare.publish"
TIMEOUT = (5.0, 30.0)  # the publisher's default connect and read timeouts
TOKEN = "bench-bare"  # the sandbox delays every call that carries a token, like a publish
POOL_PER_HOST = 32  # as publisher.engine.exchange.new_session: one connection per thread

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
    worker_pool="threads",
    worker_concurrency=Settings.from_env().worker_concurrency,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)

_http: requests.Session | None = None
_lock = threading.Lock()


def _session() -> requests.Session:
    global _http
    with _lock:
        if _http is None:
            _http = requests.Session()
            _http.mount("http://", HTTPAdapter(pool_maxsize=POOL_PER_HOST, max_retries=0))
        return _http


@app.task(name=TASK, ignore_result=True)
def publish(url: str, text: str, key: str) -> str:
    response = _session().post(
        url,
        json={"idempotency_key": key, "options": {}, "text": text},
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    return str(response.json()["id"])
