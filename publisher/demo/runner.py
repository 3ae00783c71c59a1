"""``publisher demo``: the whole pipeline against the local sandbox, faults included.

Runs ``publisher run`` as a child process on a fresh data directory, with the sandbox
(in this process) standing in for Mastodon, X, a webhook receiver, Bluesky, LinkedIn, a
Facebook Page, a Telegram channel, a Discord webhook, Sentry and the main app's notification
endpoint. Over the HTTP API it creates three accounts and a
deterministic mix of posts (plain ones, transient faults, refusals, a revoked token, an
unpaid bill, a post that exhausts its attempts), shows progress live, then checks every
post against the state the scenario expects and that the provider saw no duplicate.
Needs no network and no configuration; exits 0 only when everything went as planned.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import requests

from publisher.core.settings import Settings
from publisher.demo.scenario import ACCOUNTS, CREDENTIALS, PLAIN, REVOKED, Case, plan
from publisher.demo.view import LiveView, Report, outcome, summary
from publisher.errors import PublisherError
from publisher.sandbox import Sandbox

READY_TIMEOUT = 60.0  # s: a cold start (Redis, migrations, three processes) takes ~5 s
POLL_INTERVAL = 0.5  # s between two looks at the posts: live enough, cheap for SQLite
FINISH_GRACE = 90.0  # s after the spread for retries, backoff and give-ups to settle
SETTLE_TIMEOUT = 10.0  # s: notification deliveries and Sentry events trail the posts
STOP_TIMEOUT = 45.0  # s: the supervisor's own stop takes up to 15 s (children) + 15 s (Redis)
HTTP_TIMEOUT = 30.0  # s per API request: a busy laptop's SQLite can hold a write for seconds
PAGE_LIMIT = 500  # the API's largest page
SLOW_SECONDS = 3.0  # a `slow` create answers after this, past PUBLISHER_HTTP_TIMEOUT
# Engine settings that make retries, backoff and give-ups happen in seconds, not hours.
ENGINE_ENV = {
    "PUBLISHER_SWEEP_INTERVAL": "1",
    "PUBLISHER_RETRY_BASE": "1",
    "PUBLISHER_RETRY_MAX": "8",
    "PUBLISHER_HTTP_TIMEOUT": "2",
    "PUBLISHER_HTTP_CONNECT_TIMEOUT": "1",
    "PUBLISHER_LEASE_SECONDS": "20",
    "PUBLISHER_MAX_ATTEMPTS": "4",
    "PUBLISHER_NOTIFY_SECRET": "demo-notify-secret",
}
# The user's own configuration must not leak in: the demo never touches real data.
FOREIGN_ENV = ("PUBLISHER_", "SENTRY_", "PROMETHEUS_MULTIPROC_DIR")


class DemoError(PublisherError):
    """The demo could not run."""


class Api:
    """The publisher's HTTP API, as a main app would call it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, self.url + path, timeout=HTTP_TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise DemoError(f"{method} {path}: no answer from the API ({error})") from None
        if response.status_code >= 400:
            raise DemoError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after: int | None = 0
        while after is not None:
            page = self.call("GET", path, params={**params, "after_id": after, "limit": PAGE_LIMIT})
            items += page["items"]
            after = page["next_after_id"]
        return items


class Pipeline:
    """``publisher run`` as a child in its own session; stopped on every way out."""

    def __init__(self, data_dir: Path, port: int, sandbox: Sandbox) -> None:
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir / "pipeline.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
        self.env.update(ENGINE_ENV)
        self.env.update(
            PUBLISHER_DATA_DIR=str(data_dir),
            PUBLISHER_WEB_HOST="127.0.0.1",
            PUBLISHER_WEB_PORT=str(port),
            SENTRY_DSN=sandbox.sentry_dsn,
            PUBLISHER_NOTIFY_URL=f"{sandbox.url}/notify",
            PYTHONUNBUFFERED="1",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Pipeline:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "publisher.cli", "run"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches the demo only; it stops the child
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise DemoError(f"the pipeline exited (code {code}); see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM (the supervisor stops its children and Redis), then SIGKILL if it hangs."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        # A second Ctrl-C must not cut the stop short: that would orphan Redis and workers.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.terminate()
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        finally:
            signal.signal(signal.SIGINT, previous)

    def wait_ready(self, api: Api) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check()
            with contextlib.suppress(requests.RequestException, DemoError):
                api.call("GET", "/healthz")
                return
            time.sleep(0.2)
        raise DemoError(f"the API did not answer within {READY_TIMEOUT:g} s; see {self.log_path}")


@dataclass
class Seeded:
    accounts: dict[str, int]  # name -> id
    expected: dict[int, Case]  # post id -> its case


# Where each network's stand-in listens, under the sandbox's root: a webhook's path, a
# LinkedIn author, Graph's versioned root, a Telegram chat, a Discord webhook.
PATHS = {
    "webhook": "/hooks/demo",
    "linkedin": "#urn:li:organization:1001",
    "facebook": "/v24.0",
    "telegram": "/@demo",
    "discord": "/api/webhooks/1001",
}


def _base_url(sandbox: Sandbox, provider: str) -> str:
    return sandbox.url + PATHS.get(provider, "")


def create_accounts(api: Api, sandbox: Sandbox) -> tuple[dict[str, int], dict[Any, int]]:
    """The three accounts and their credentials: ``(ids by name, ids by (name, provider))``."""
    accounts = {
        name: api.call("POST", "/v1/accounts", json={"name": name, "billing_status": billing})["id"]
        for name, billing in ACCOUNTS.items()
    }
    credentials = {}
    for name, provider in CREDENTIALS:
        token = f"demo-{name.lower()}-{provider}"
        if name in REVOKED:
            sandbox.invalid_tokens.add(token)
        body = {"provider": provider, "base_url": _base_url(sandbox, provider), "token": token}
        if provider == "bluesky":  # an app password: publisher logs in (createSession)
            body["identifier"] = f"{name.lower()}.bsky.social"
        path = f"/v1/accounts/{accounts[name]}/credentials"
        credentials[name, provider] = api.call("POST", path, json=body)["id"]
    return accounts, credentials


def seed(api: Api, sandbox: Sandbox, cases: Sequence[Case], spread: float) -> Seeded:
    """Creates and approves one post per case, due evenly over the next ``spread`` s."""
    accounts, credentials = create_accounts(api, sandbox)
    start = datetime.now(UTC)
    expected = {}
    for index, case in enumerate(cases):
        body = {
            "account_id": accounts[case.account],
            "credential_id": credentials[case.account, case.provider],
            **case.content(index),
            "scheduled_at": (start + timedelta(seconds=index * spread / len(cases))).isoformat(),
        }
        if case.images:
            body["media"] = [upload_image(api, index, n) for n in range(case.images)]
        post_id = api.call("POST", "/v1/posts", json=body)["id"]
        api.call("POST", f"/v1/posts/{post_id}/approve")
        expected[post_id] = case
    return Seeded(accounts, expected)


def upload_image(api: Api, index: int, number: int) -> dict[str, Any]:
    """A small PNG uploaded as a main app would (multipart), as a post's media item."""
    files = {"file": (f"demo-{index}-{number}.png", tiny_png(), "image/png")}
    alt = f"Demo image {number + 1} of post #{index + 1:03d}"
    media = api.call("POST", "/v1/media", files=files, data={"alt": alt})
    return {"id": media["id"]}


def tiny_png() -> bytes:
    """A valid 1x1 PNG (a grey pixel), built rather than shipped."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x80")  # filter byte, one grey pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def fetch(api: Api, path: str, seeded: Seeded) -> list[dict[str, Any]]:
    """Every row at ``path`` (posts or notifications) of the demo's accounts."""
    rows: list[dict[str, Any]] = []
    for account_id in seeded.accounts.values():
        rows += api.pages(path, account_id=account_id)
    return rows


def watch(
    api: Api, pipeline: Pipeline, seeded: Seeded, view: LiveView, deadline: float
) -> list[dict[str, Any]]:
    """Polls until every post is final or ``deadline`` passes; returns the last posts seen."""
    started, posts = time.monotonic(), list[dict[str, Any]]()
    while True:
        pipeline.check()
        with contextlib.suppress(requests.RequestException, DemoError):  # a busy moment
            posts = [p for p in fetch(api, "/v1/posts", seeded) if p["id"] in seeded.expected]
        final = sum(outcome(p) is not None for p in posts)
        counts = Counter(p["state"] for p in posts)
        if final == len(seeded.expected) or time.monotonic() > deadline:
            view.finish(counts, final, time.monotonic() - started)
            return posts
        view.update(counts, final, time.monotonic() - started)
        time.sleep(POLL_INTERVAL)


def settle(api: Api, sandbox: Sandbox, seeded: Seeded) -> list[dict[str, Any]]:
    """Waits briefly for notification deliveries and Sentry events; returns notifications."""
    reported = sum(case.reported for case in seeded.expected.values())
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        notes = fetch(api, "/v1/notifications", seeded)
        delivered = all(n["delivered_at"] for n in notes)
        if (delivered and len(sandbox.sentry_events) >= reported) or time.monotonic() > deadline:
            return notes
        time.sleep(POLL_INTERVAL)


def hold(pipeline: Pipeline) -> None:
    print(
        f"\nThe pipeline keeps running (Ctrl-C stops it): the dashboard, with the demo's "
        f"posts, is at {pipeline.url}/dashboard (no key is set: log in from this machine).",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        while pipeline.alive():
            time.sleep(0.5)


def run(args: argparse.Namespace, port: int, data_dir: Path) -> int:
    cases = plan(args.posts)
    specials = sum(case not in PLAIN for case in cases)
    print(
        f"publisher demo: {len(cases)} posts ({specials} with a scripted fault or problem) "
        f"over {args.spread:g} s\n  data directory: {data_dir}",
        flush=True,
    )
    started = time.monotonic()
    with (
        # strict: every create creates (keys ignored, repeats accepted), so "no duplicate"
        # is publisher's doing, not the stand-in's
        Sandbox(slow_seconds=SLOW_SECONDS, strict=True) as sandbox,
        Pipeline(data_dir, port, sandbox) as pipe,
    ):
        api = Api(pipe.url)
        print(f"  starting the pipeline (Redis, API on {pipe.url}, workers, beat)...", flush=True)
        pipe.wait_ready(api)
        print(f"  ready in {time.monotonic() - started:.1f} s; creating posts...", flush=True)
        seeded = seed(api, sandbox, cases, args.spread)
        print(f"  {len(ACCOUNTS)} accounts, {len(cases)} approved posts\n", flush=True)
        deadline = time.monotonic() + args.spread + FINISH_GRACE
        posts = watch(api, pipe, seeded, LiveView(sys.stdout, len(cases)), deadline)
        notes = settle(api, sandbox, seeded)
        expected = {i: (c.kind, c.expected) for i, c in seeded.expected.items()}
        found = Report.build(posts, expected, notes, sandbox, time.monotonic() - started)
        found.where(pipe.url, data_dir, pipe.log_path)
        print("\n".join(summary(found, args.keep_running)), flush=True)
        if args.keep_running:
            hold(pipe)
    return 0 if found.ok else 1


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """The ``demo`` command: 0 when every post ended as planned with no duplicate."""
    if args.posts < 1 or args.spread < 0:
        raise DemoError("--posts must be at least 1 and --spread at least 0")
    port = args.port or settings.web_port
    if not _free(port):
        raise DemoError(f"port {port} is in use: pass --port with a free one")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="publisher-demo-"))
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop the pipeline on SIGTERM too
    try:
        return run(args, port, data_dir.resolve())
    except KeyboardInterrupt:
        print("\npublisher demo: interrupted; the pipeline is stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``demo`` to the ``publisher`` command's subcommands."""
    demo = commands.add_parser(
        "demo",
        help="run everything against a local sandbox, with faults",
        description="Publishes a mix of posts, faults included, through the whole pipeline "
        "against a local sandbox; no network, no configuration, never your real data.",
    )
    add = demo.add_argument
    add("--posts", type=int, default=50, help="how many posts (default 50)")
    add(
        "--spread",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="schedule the posts over the next SECONDS (default 30)",
    )
    add("--port", type=int, help="API port (default PUBLISHER_WEB_PORT or 8000)")
    add("--keep-running", action="store_true", help="leave the pipeline up after the summary")
    add("--data-dir", type=Path, help="default: a fresh directory in the system temp dir")
    demo.set_defaults(handler=handle)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m publisher.demo [options]``: the command without ``publisher.cli``."""
    parser = argparse.ArgumentParser(prog="python -m publisher.demo")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    try:
        return handle(args, Settings.from_env())
    except PublisherError as exc:
        print(f"publisher demo: {exc.message}", file=sys.stderr)
        return 2
