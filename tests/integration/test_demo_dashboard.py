"""``publisher demo --keep-running`` leaves the dashboard up with the demo's data: a real
demo (embedded Redis, API, workers, beat, sandbox) in a child process, its dashboard read
in headless Chromium, then stopped with nothing left running."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import Console, open_page
from tests.support.demo import demo_kept_running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A demo left running: its dashboard's URL and its output so far."""
    with demo_kept_running(tmp_path / "demo") as found:
        yield found
    leftovers = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""


@pytest.fixture
def page(browser: Browser, console: Console, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(browser, console, request.node.name) as opened:
        yield opened
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
