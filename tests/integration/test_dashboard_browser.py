"""The dashboard in a real headless Chromium against a real ``publisher web`` process.

Each test gets a fresh browser context (no cookies) and fails on any console error or
uncaught exception in the page; a screenshot of its last page is saved as an artifact
(tests/support/browser.py). Most run on SQLite only (their subject is the browser and the
access rules, not the database); the whole tour runs on PostgreSQL too.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from tests.conftest import SQLITE_ONLY
from tests.support.browser import FULL, READONLY, Console, log_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _draft(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        account = service.create_account(session, "Acme")
        credential = service.add_credential(
            session, token_box(settings), account.id, "webhook", "https://h.example/x", "t"
        )
        service.create_post(session, account.id, credential.id, "hello")


def test_a_full_key_sees_the_overview_live_and_acts(
    page: Page, sessions: sessionmaker[Session], settings: Settings
) -> None:
    # Given an operator logged in with a full key
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    draft = page.locator('[data-state="draft"]')
    expect(draft).to_have_text("0")
    # The session cookie is HttpOnly and SameSite=Strict
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "publisher_dashboard"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # When a post is created, the counts (refreshed by htmx, no reload) show it
    _draft(sessions, settings)
    expect(draft).to_have_text("1")
    # When the operator pauses everything, the switch names their key's fingerprint
    page.get_by_role("button", name="Pause all publishing").click()
    expect(page.get_by_role("cell", name="everything")).to_be_visible()
    expect(page.get_by_role("button", name="Resume all publishing")).to_be_visible()
    # And the audit page lists the action
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("cell", name="pause", exact=True)).to_be_visible()
    assert FULL not in page.content()


@SQLITE_ONLY
def test_the_keyboard_reaches_the_skip_link_first(page: Page) -> None:
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


@SQLITE_ONLY
def test_a_wrong_key_is_refused(page: Page, console: Console) -> None:
    console.expected.add(401)
    log_in(page, "not-a-key")
    expect(page.get_by_role("alert")).to_have_text("Wrong key.")
    assert not [c for c in page.context.cookies() if c["name"] == "publisher_dashboard"]
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/login$"))


@SQLITE_ONLY
def test_a_readonly_key_sees_the_overview_but_cannot_act(page: Page) -> None:
    log_in(page, READONLY)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text("(read-only)")).to_be_visible()
    expect(page.get_by_role("button", name="Pause all publishing")).to_have_count(0)
    # A hand-made action POST, with the session's own CSRF token, is still refused
    csrf = page.locator('input[name="csrf"]').first.input_value()
    answer = page.request.post("/dashboard/actions/pause", form={"csrf": csrf})
    assert answer.status == 403
    htmx = page.request.post(
        "/dashboard/actions/pause", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert htmx.status == 403 and htmx.json()["error"] == "forbidden"


@SQLITE_ONLY
def test_a_post_without_its_csrf_token_is_refused(page: Page, console: Console) -> None:
    console.expected.add(403)
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert page.request.post("/dashboard/actions/pause", form={}).status == 403
    wrong = page.request.post("/dashboard/actions/pause", form={"csrf": "forged"})
    assert wrong.status == 403 and "CSRF" in wrong.text()
    # The form, its token removed in the page, is refused too, and nothing changed
    page.locator('form[action="/dashboard/actions/pause"] input[name="csrf"]').evaluate(
        "input => input.remove()"
    )
    page.get_by_role("button", name="Pause all publishing").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.goto("/dashboard")
    expect(page.locator("#no-switches")).to_be_visible()


@SQLITE_ONLY
def test_logout_ends_the_session(page: Page) -> None:
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/dashboard/login$"))
    assert not [c for c in page.context.cookies() if c["name"] == "publisher_dashboard"]
    page.goto("/dashboard/audit")
    expect(page).to_have_url(re.compile(r"/dashboard/login$"))


@SQLITE_ONLY
def test_the_overview_fits_a_phone(page: Page) -> None:
    # Given a phone-sized window (a common 390 x 844 CSS-pixel screen)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.wait_for_load_state()  # the page's own stylesheets applied, not only the DOM
    # Then nothing scrolls sideways and the actions stay on screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for name in ("Log out", "Pause all publishing"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
