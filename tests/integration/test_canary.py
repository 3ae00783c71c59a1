"""Secrets: a canary token never appears in logs, HTTP responses, the call log, Sentry
events or the database, in plain text or in any common encoding. The test drives every
path that touches the token (success, 401, unclassified errors, token replacement, and a
careless provider that echoes the token in an error body, a redirect and a broken status
line that becomes an exception message) and then searches everything."""

from __future__ import annotations

import base64
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests

from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline, wait_for
from tests.support.services import RedisServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# Characters that every encoding writes differently (JSON, repr, URL, base64).
CANARY = 'canary/7f3a+9c=1e"5b\\x'
REPLACEMENT = "canary-2d8e4b6a0f"
ECHO = "[[fault:echo_auth,echo_redirect,echo_status,ok]]"


def _encodings(secret: str) -> set[str]:
    """The ways an echoed token could be written in what we store, send or log."""
    return {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"user:{secret}".encode()).decode(),
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Pipeline, str]]:
    with (
        Sandbox(slow_seconds=2.0, strict=("mastodon", "x")) as sandbox,
        RedisServer() as redis_server,
    ):
        pipeline = Pipeline(
            tmp_path,
            f"sqlite:///{tmp_path / 'publisher.db'}",
            redis_server.url,
            sandbox,
            PUBLISHER_API_KEYS="k",
        )
        port = free_port()
        pipeline._spawn("web", [sys.executable, "-m", "publisher.cli", "web", "--port", str(port)])
        pipeline.start_worker()
        pipeline.start_beat()
        api = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(api), 30, lambda: pipeline.log("web"))
        try:
            yield pipeline, api
        finally:
            pipeline.stop()


def _up(api: str) -> bool:
    try:
        return requests.get(api + "/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def test_canary_token_appears_nowhere(stack: tuple[Pipeline, str], tmp_path: Path) -> None:
    pipeline, api = stack
    http = requests.Session()
    http.headers["Authorization"] = "Bearer k"
    seen: list[str] = []

    def call(method: str, path: str, **kwargs: object) -> dict[str, object]:
        response = http.request(method, api + path, **kwargs)  # type: ignore[arg-type]
        seen.append(response.text + json.dumps(dict(response.headers)))
        is_json = response.headers["content-type"].startswith("application/json")
        return response.json() if is_json else {}  # type: ignore[no-any-return]

    account = call("POST", "/v1/accounts", json={"name": "canary"})["id"]
    credentials = {
        provider: call(
            "POST",
            f"/v1/accounts/{account}/credentials",
            json={
                "provider": provider,
                "token": CANARY,
                "base_url": pipeline.sandbox.url + ("/hooks/c" if provider == "webhook" else ""),
            },
        )["id"]
        for provider in ("mastodon", "x", "webhook")
    }
    texts = {
        "mastodon": [
            "ok one",
            "[[fault:slow]] slow one",
            "[[fault:malformed]] odd",
            f"{ECHO} echoes",
        ],
        "x": ["[[fault:x_code:999,ok]] unclassified", f"{ECHO} echoes"],
        "webhook": ["[[fault:500,ok]] hook", f"{ECHO} echoes"],
    }
    post_ids = []
    for provider, items in texts.items():
        for text in items:
            post = call(
                "POST",
                "/v1/posts",
                json={"account_id": account, "credential_id": credentials[provider], "text": text},
            )
            call("POST", f"/v1/posts/{post['id']}/approve")
            post_ids.append(post["id"])
    pipeline.wait_final(post_ids)
    # A rejected token, then its replacement
    pipeline.sandbox.invalid_tokens.add(CANARY)
    rejected = call(
        "POST",
        "/v1/posts",
        json={"account_id": account, "credential_id": credentials["mastodon"], "text": "rejected"},
    )
    call("POST", f"/v1/posts/{rejected['id']}/approve")
    pipeline.wait_final([rejected["id"]])
    call(
        "PUT",
        f"/v1/credentials/{credentials['mastodon']}/token",
        json={"token": REPLACEMENT, "reapprove": True},
    )
    pipeline.wait_final([rejected["id"]], final={"done"})
    for post_id in [*post_ids, rejected["id"]]:
        call("GET", f"/v1/posts/{post_id}")
        call("GET", f"/v1/posts/{post_id}/calls")
    call("GET", "/v1/notifications")
    call("GET", "/metrics")
    wait_for(lambda: pipeline.sandbox.sentry_events, 20)
    # The sandbox did receive the token and echo it back (so the search is meaningful)...
    assert any(CANARY in c.headers.get("Authorization", "") for c in pipeline.sandbox.calls)
    echoed = [c for c in pipeline.sandbox.calls if ECHO in c.body.decode(errors="replace")]
    assert {c.status for c in echoed} >= {400, 302, 0}, [c.status for c in echoed]
    # ...and nothing of ours contains it.
    places = {
        "http responses": "\n".join(seen),
        "logs": "".join(pipeline.log(name) for name in ("web", "worker", "beat")),
        "sentry events": json.dumps(pipeline.sandbox.sentry_events),
        "database files": _database_bytes(tmp_path),
    }
    for name, content in places.items():
        assert content, f"nothing captured from {name}"
        for secret in (CANARY, REPLACEMENT):
            for written in _encodings(secret):
                assert written not in content, f"{secret} found in {name} as {written!r}"
    # ...while the echoes were recorded (redacted) where a human looks for them
    assert "[redacted]" in places["database files"]


def _database_bytes(tmp_path: Path) -> str:
    with closing(sqlite3.connect(tmp_path / "publisher.db")) as connection:
        dump = "\n".join(connection.iterdump())
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("publisher.db*"))
    return dump + raw.decode("latin-1")
