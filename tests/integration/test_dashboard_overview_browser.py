"""The overview in a real headless Chromium, with a real pipeline behind it (worker and
beat against a strict sandbox, ``publisher web`` on the same database and Redis): health
as the watchdog sees it, live; beat stopped and publishing paused, said on the page;
every kill switch with who set it and when."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from publisher.core import control, service
from publisher.core.models import utcnow
from tests.conftest import SQLITE_ONLY
from tests.support.browser import FULL, log_in
from tests.support.dashboard_pipeline import pipeline_fixture, web_fixture  # noqa: F401
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
# The longest the page may take to show a change: the watchdog's verdict is cached 10 s,
# the page refreshes every 5 s, beat's heartbeat is stale after 6 s; doubled for a
# loaded machine.
CHANGE_MS = 60_000


def test_the_overview_shows_a_healthy_pipeline_live_then_beat_stopped(
    page: Page, pipeline: Pipeline
) -> None:
    # Given a running pipeline and an operator on the overview
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    # Then the sweep's age shows, beat sweeps and the watchdog says healthy
    expect(page.locator("#last-sweep")).to_have_text(re.compile(r"^\d+ s ago$"), timeout=CHANGE_MS)
    expect(page.locator("#beat")).to_have_attribute("data-verdict", "ok", timeout=CHANGE_MS)
    expect(page.locator("#watchdog")).to_have_attribute("data-verdict", "ok", timeout=CHANGE_MS)
    expect(page.locator("#watchdog")).to_contain_text("healthy")
    expect(page.locator("#queue-depth")).to_have_text(re.compile(r"^\d+$"))
    # When a post is published, the page (not reloaded) counts it done, as a link
    account = pipeline.account()
    post = pipeline.post(account, pipeline.credential(account), "hello from the overview")
    pipeline.wait_final([post])
    done = page.locator("#count-done")
    expect(done).to_have_text("1", timeout=CHANGE_MS)
    expect(done).to_have_attribute("href", "/dashboard/posts?state=done")
    # When beat stops
    pipeline.kill("beat")
    # Then the page says beat is not sweeping and the watchdog is unhealthy, and why
    beat = page.locator("#beat")
    expect(beat).to_have_attribute("data-verdict", "bad", timeout=CHANGE_MS)
    expect(beat).to_contain_text("is beat running?")
    expect(page.locator("#watchdog")).to_have_attribute("data-verdict", "bad", timeout=CHANGE_MS)
    expect(page.locator("#watchdog")).to_contain_text("the last sweep ran")


@SQLITE_ONLY
def test_pausing_shows_on_the_overview_with_every_switch_who_and_when(
    page: Page, pipeline: Pipeline
) -> None:
    # Given switches at the other scopes, set outside the dashboard
    account = pipeline.account()
    credential = pipeline.credential(account)
    other = pipeline.account()
    with pipeline.sessions.begin() as session:
        control.set_provider_paused(session, "x", True, utcnow(), by="cli")
        control.set_credential_paused(session, credential, True, utcnow(), by="carol")
        service.update_account(session, other, paused=True)
    log_in(page, FULL)
    expect(page.locator("#watchdog")).to_have_attribute("data-verdict", "ok", timeout=CHANGE_MS)
    # When the operator pauses all publishing
    page.get_by_role("button", name="Pause all publishing").click()
    # Then the page says so, and names every switch with who set it and when
    expect(page.locator("#paused")).to_contain_text("Publishing is paused")
    rows = page.locator("#switches tbody tr")
    expect(rows).to_have_count(4)
    who = page.locator(".who").inner_text()
    expected = [
        ["global", "everything", who],
        ["provider", "x", "cli"],
        ["credential", str(credential), "carol"],
        ["account", str(other), "not recorded"],
    ]
    for row, (scope, target, by) in zip(rows.all(), expected, strict=True):
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(scope)
        expect(cells.nth(1)).to_have_text(target)
        expect(cells.nth(2)).to_have_text(by)
    since = rows.nth(0).locator("td").nth(3).inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", since), since
    # And a post approved meanwhile waits, due, counted as approved (a link to the list)
    free = pipeline.account()
    waiting = pipeline.post(free, pipeline.credential(free), "held while paused")
    expect(page.locator("#count-approved")).to_have_text("1", timeout=CHANGE_MS)
    expect(page.locator("#oldest-due")).to_contain_text("due", timeout=CHANGE_MS)
    expect(page.locator("#watchdog")).to_have_attribute("data-verdict", "ok")
    # When the operator resumes, the post goes out and the page shows it
    page.get_by_role("button", name="Resume all publishing").click()
    expect(page.locator("#paused")).to_have_count(0)
    assert pipeline.wait_final([waiting])[waiting].state == "done"
    expect(page.locator("#count-done")).to_have_text("1", timeout=CHANGE_MS)
    expect(page.locator("#oldest-due")).to_have_text("none", timeout=CHANGE_MS)
