"""The dashboard's pages beside the benchmark's posts: each a full HTTP GET through the
app (``create_app`` in process, as ``publisher web`` serves it, through Starlette's
``TestClient``: routing, the session cookie's check, the queries, the template and the
headers), logged in with a session cookie like a browser.

A route that answers 404 is reported "not built" (its page is another branch's until it
is merged), so the same command measures every page once they all are.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.report import Report, percentile
from publisher.api.app import create_app
from publisher.core.models import Credential, Post
from publisher.core.settings import Settings

KEY = "bench-dashboard-key"
NOT_BUILT = 404  # the route's page is not on this branch yet


def routes(sessions: sessionmaker[Session]) -> list[str]:
    """Issue 14's pages and fragments, with a finished post's and a credential's id."""
    with sessions() as session:
        middle = session.execute(select(func.max(Post.id))).scalar_one() // 2
        finished = session.execute(select(Post.id).where(Post.id >= middle).limit(1)).scalar()
        credential = session.execute(select(func.min(Credential.id))).scalar()
        account = session.execute(select(func.min(Credential.account_id))).scalar()
    return [
        "/dashboard",
        "/dashboard/fragments/health",
        "/dashboard/audit",
        "/dashboard/charts",
        "/dashboard/charts/data?window=1h",
        "/dashboard/charts/data?window=24h",
        "/dashboard/charts/data?window=7d",
        "/dashboard/posts",
        "/dashboard/posts?state=cancelled&provider=mastodon",
        "/dashboard/posts?state=done&provider=mastodon",
        "/dashboard/posts?text=hello",
        "/dashboard/bulk/confirm?do=retry_now:matching&state=draft&provider=mastodon",
        f"/dashboard/posts/{finished}",
        "/dashboard/credentials",
        f"/dashboard/credentials/{credential}",
        f"/dashboard/accounts/{account}",
    ]


def measure(
    report: Report, kind: str, url: str, sessions: sessionmaker[Session], params: PageParams
) -> None:
    """One row per route: its p95 over ``rounds`` GETs after one to warm, or "not built";
    a built page is judged on its status (200) and its p95 (``aim``)."""
    settings = Settings.from_env(
        {
            "PUBLISHER_DATABASE_URL": url,
            "PUBLISHER_SECRET_KEY": Fernet.generate_key().decode(),
            "PUBLISHER_API_KEYS": KEY,
            "PUBLISHER_DATA_DIR": str(params.data_dir),
        }
    )
    app = create_app(settings, sessions=sessions)
    with TestClient(app) as client:
        log_in(client)
        for path in routes(sessions):
            row = _timed(partial(_status, client, path), params.rounds)
            report.table("pages", db=kind, route=path, **row)
            if row["status"] != NOT_BUILT:
                met = row["status"] == 200 and row["p95_ms"] <= params.aim_ms
                goal = f"200, <= {params.aim_ms:.0f} ms"
                report.target(f"{kind}: GET {path} p95", goal, row["p95_ms"], met)


@dataclass(frozen=True)
class PageParams:
    rounds: int
    aim_ms: float
    data_dir: Path  # the app's data directory (unused by these pages, required by settings)


def log_in(client: TestClient) -> None:
    """Through the login form, as a browser: the session cookie stays in the client."""
    form = client.get("/dashboard/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    answer = client.post("/dashboard/login", data={"key": KEY, "login_token": token.group(1)})
    assert answer.status_code == 200 and "publisher_dashboard" in client.cookies, answer.text


def _status(client: TestClient, path: str) -> int:
    return client.get(path).status_code


def _timed(get: Callable[[], int], rounds: int) -> dict[str, Any]:
    status = get()  # warm: templates compiled, plans and pages cached
    if status == NOT_BUILT:
        return {"status": status, "median_ms": "not built", "p95_ms": ""}
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        status = get()
        times.append((time.perf_counter() - started) * 1000)
    median, p95 = round(statistics.median(times), 1), round(percentile(times, 0.95), 1)
    return {"status": status, "median_ms": median, "p95_ms": p95}
