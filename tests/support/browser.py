"""A real ``publisher web`` process and a headless Chromium page, for the dashboard's tests.

Chromium is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it), driven by Playwright
with ``executable_path``: nothing is downloaded at run time, ``playwright install`` never
runs. Without the binary the browser tests are skipped locally and fail in CI (``CI`` set),
as PostgreSQL's are. Every page records its console errors and uncaught exceptions
(``Console``): a test fails on any. A screenshot of each test's last page is saved under
``$PUBLISHER_TEST_ARTIFACTS`` (default ``tests/artifacts/``, git-ignored).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from publisher.core.settings import Settings
from tests.support.pipeline import wait_for
from tests.support.services import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("PUBLISHER_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts"
)
# A loaded CI machine starts Python, imports FastAPI and binds within seconds; this is the
# generous bound on that, not an expected wait.
START_TIMEOUT = 60.0


def chromium_or_skip() -> Path:
    """Debian's Chromium; skips the test without it, fails it in CI."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def publisher_web(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """``publisher web`` on a free port with ``env`` (PUBLISHER_* settings); yields its
    URL once it answers, stops it (SIGTERM, then SIGKILL) on the way out."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    argv = [sys.executable, "-m", "publisher.cli", "web", "--port", str(port)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv, env={**clean, **env}, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: process.poll() is None and _answers(url),
            START_TIMEOUT,
            lambda: log.read_text()[-3000:],
        )
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_FAILED_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class Console:
    """What a page said went wrong: console errors and uncaught exceptions.

    Chromium logs every 4xx answer as an error; a test that provokes a refusal on purpose
    names its status in ``expected`` (the refusal itself is what it asserts)."""

    errors: list[str] = field(default_factory=list)
    expected: set[int] = field(default_factory=set)

    def message(self, kind: str, text: str) -> None:
        if kind != "error":
            return
        refused = _FAILED_LOAD.match(text)
        if refused and int(refused.group(1)) in self.expected:
            return
        self.errors.append(text)

    def exception(self, error: object) -> None:
        self.errors.append(f"uncaught: {error}")


def screenshot_path(test_name: str) -> Path:
    """Where the screenshot of ``test_name`` goes (one file a test, replaced each run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name) + ".png")


FULL, READONLY = "test-key", "read-key"  # the settings fixture's key, and one more
# Playwright's bound on each wait for the page and each expect (ms): generous on a loaded
# machine, and six times the counts' refresh interval.
WAIT_MS = 30_000


def dashboard_env(settings: Settings) -> dict[str, str]:
    """``publisher web``'s settings for the test's database, with both kinds of key."""
    return {
        "PUBLISHER_DATA_DIR": str(settings.data_dir),
        "PUBLISHER_DATABASE_URL": settings.database_url,
        "PUBLISHER_SECRET_KEY": ",".join(settings.secret_keys),
        "PUBLISHER_API_KEYS": FULL,
        "PUBLISHER_READONLY_API_KEYS": READONLY,
    }


def log_in(page: Page, key: str) -> None:
    """Log in through the form, starting as a stranger sent to the login page."""
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/login$"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()


@contextmanager
def open_page(
    browser: Browser, console: Console, name: str, base_url: str | None = None
) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies) whose console errors go to
    ``console``; a screenshot of its last state is saved as ``name``'s artifact."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    opened.on("console", lambda message: console.message(message.type, message.text))
    opened.on("pageerror", console.exception)
    try:
        yield opened
        opened.screenshot(path=screenshot_path(name), full_page=True)
    finally:
        context.close()
