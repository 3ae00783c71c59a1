"""``publisher demo --keep-running`` leaves the dashboard up with the demo's data: a real
demo (embedded Redis, API, workers, beat, sandbox) in a child process, its dashboard read
in headless Chromium, then stopped with nothing left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import WAIT_MS, Console, screenshot_path
from tests.support.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
# The demo's own bound on its posts is 12 + 5 s of spread + its grace; this bounds a
# loaded machine's start and settle, not an expected wait.
SUMMARY_TIMEOUT = 240.0
DASHBOARD_LINE = re.compile(r"the dashboard, with the demo's posts, is at (\S+/dashboard)")


def _read_until(process: subprocess.Popen[str], pattern: re.Pattern[str]) -> tuple[str, str]:
    """Lines of the demo's output until one matches; the match and everything read."""
    seen: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        found = pattern.search(line)
        if found:
            return found.group(1), "".join(seen)
    raise AssertionError("the demo ended without naming its dashboard:\n" + "".join(seen))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A demo left running: its dashboard's URL and its output so far."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    argv = [sys.executable, "-m", "publisher.cli", "demo", "--posts", "12", "--spread", "5"]
    argv += ["--port", str(free_port()), "--data-dir", str(tmp_path / "demo"), "--keep-running"]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env | {"PYTHONUNBUFFERED": "1"},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield _read_until(process, DASHBOARD_LINE)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    leftovers = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""


@pytest.fixture
def page(browser: Browser, console: Console, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    opened.on("console", lambda message: console.message(message.type, message.text))
    opened.on("pageerror", console.exception)
    yield opened
    opened.screenshot(path=screenshot_path(request.node.name), full_page=True)
    context.close()
    assert console.errors == [], f"the page logged errors: {console.errors}"


def test_keep_running_leaves_the_dashboard_up_with_the_demo_data(
    demo: tuple[str, str], page: Page
) -> None:
    url, output = demo
    # Given the demo finished as planned and said where its dashboard is
    assert "OK: every post reached its expected state" in output, output
    assert f"dashboard          {url}" in output
    # When the operator opens it from this machine (no key is configured in the demo)
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/dashboard/login$"))
    page.get_by_role("button", name="Log in").click()
    # Then the overview shows the demo's unfinished posts (one returned to draft)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator('[data-state="draft"]')).to_have_text("1")
