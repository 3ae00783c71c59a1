"""The README's dashboard screenshots, taken from a real demo in headless Chromium:

    .venv/bin/python -m tests.support.screenshots [docs/images]

Runs ``publisher demo --keep-running`` in a temporary directory, logs in from this machine
(the demo sets no key), and saves the overview and a retried post's page as PNG files.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.support.browser import CHROMIUM, WAIT_MS
from tests.support.demo import demo_kept_running

DEFAULT_DIR = Path("docs/images")
RETRIED_POST = re.compile(r"a retried post +(\S+/dashboard/posts/\d+)")
WIDTH, HEIGHT = 1280, 900  # a laptop's window


def _shoot(page: Page, url: str, heading: str, path: Path) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=heading).first).to_be_visible()
    page.wait_for_load_state("networkidle")  # the live parts and charts have drawn
    page.screenshot(path=path, full_page=True)
    print(f"saved {path}")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_DIR
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as data,
        demo_kept_running(Path(data) / "demo", posts=30, spread=10) as (url, output),
        sync_playwright() as playwright,
    ):
        found = RETRIED_POST.search(output)
        if found is None:
            print(f"the demo named no retried post:\n{output}", file=sys.stderr)
            return 1
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        page.get_by_role("button", name="Log in").click()
        _shoot(page, url, "Overview", out / "dashboard-overview.png")
        _shoot(page, found.group(1), "Post", out / "dashboard-post.png")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
