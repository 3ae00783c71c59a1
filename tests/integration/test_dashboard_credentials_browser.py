"""The credentials pages in a real headless Chromium, with a real pipeline behind them:
Celery worker and beat on a real Redis, a strict sandbox (every create creates, repeats
accepted: "once" is publisher's doing), ``publisher web`` on the same database. On SQLite
and PostgreSQL; the page fixture fails a test on any console error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import update

from publisher.core import control, liveness
from publisher.core.models import Credential, utcnow
from tests.conftest import SQLITE_ONLY
from tests.support.browser import FULL, log_in
from tests.support.dashboard_pipeline import pipeline_fixture, web_fixture  # noqa: F401
from tests.support.pipeline import Pipeline, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# A loaded machine runs a post through worker and sandbox in seconds; this bounds it.
PUBLISH_TIMEOUT = 90.0


def _beat_time(pipeline: Pipeline) -> datetime | None:
    with pipeline.sessions() as session:
        beat = liveness.heartbeat(session)
        return None if beat is None else beat.updated_at


def _two_sweeps_pass(pipeline: Pipeline) -> None:
    """Returns once a whole sweep began and ended after the call (two heartbeats)."""
    for _ in range(2):
        before = _beat_time(pipeline)
        wait_for(lambda seen=before: _beat_time(pipeline) not in (None, seen), PUBLISH_TIMEOUT)


def _published_once(pipeline: Pipeline, post_ids: list[int]) -> None:
    posts = pipeline.wait_final(post_ids, PUBLISH_TIMEOUT, final={"done"})
    for post in posts.values():
        assert pipeline.sandbox.ids_for(post.text) == [post.external_id], post.text


def test_a_refused_token_replaced_then_reapproved_publishes_each_post_once(
    page: Page, pipeline: Pipeline, web: str
) -> None:
    # Given a credential whose token the provider refuses, and three posts for it
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon", token="tok-refused")
    pipeline.sandbox.invalid_tokens.add("tok-refused")
    posts = [pipeline.post(account, credential, f"reapprove {i} of {account}") for i in range(3)]
    cancelled = pipeline.wait_final(posts, PUBLISH_TIMEOUT)
    assert {(p.state, p.cancel_reason) for p in cancelled.values()} == {
        ("cancelled", "unauthorized")
    }
    # When the operator opens the invalid credentials
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto("/dashboard/credentials?problem=invalid")
    page.get_by_role("link", name=f"#{credential}", exact=True).click()
    # Then the credential says since when and why it is invalid, and offers no re-approval
    expect(page.locator("#invalid-since")).to_contain_text("refused its token")
    expect(page.locator("#invalid-since")).to_contain_text("HTTP 401")
    expect(page.get_by_role("link", name=re.compile("Re-approve"))).to_have_count(0)
    assert "tok-refused" not in page.content()
    # When the main app replaces the token (the HTTP API), the page offers to re-approve 3
    answer = requests.put(
        f"{web}/v1/credentials/{credential}/token",
        json={"token": "tok-renewed"},
        headers={"Authorization": f"Bearer {FULL}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    page.reload()
    expect(page.locator("#invalid-since")).to_have_text("valid")
    page.get_by_role("link", name="Re-approve 3 posts cancelled as unauthorized…").click()
    # And the confirmation names the count before anything moves
    expect(page.locator("#reapprove-count")).to_contain_text("re-approves 3 posts")
    page.get_by_role("button", name="Re-approve 3 posts").click()
    expect(page.get_by_role("heading", name=re.compile(f"Credential {credential}"))).to_be_visible()
    # Then each post goes out exactly once (the strict sandbox's ledger)
    _published_once(pipeline, posts)
    assert "tok-renewed" not in page.content()
    page.reload()
    expect(page.locator('[data-state="done"]')).to_have_text("3")
    # And the audit names the action and its three posts
    page.get_by_role("link", name="Audit").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="reapprove"))
    expect(row.get_by_role("cell", name="3", exact=True)).to_be_visible()


def test_a_credential_paused_from_its_page_holds_its_posts_until_resumed(
    page: Page, pipeline: Pipeline
) -> None:
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon", token="tok-fine")
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto(f"/dashboard/credentials/{credential}")
    expect(page.locator("#paused")).to_have_text("no")
    # When the operator pauses it from its page
    page.get_by_role("button", name="Pause this credential").click()
    # Then the switch shows who set it and when
    expect(page.locator("#paused")).to_contain_text(re.compile(r"by \S+ at \d{4}-\d\d-\d\d"))
    expect(page.locator('[data-problem="paused"]')).to_be_visible()
    # And its posts wait: whole sweeps pass, nothing is called, no attempt used
    posts = [pipeline.post(account, credential, f"held {i} of {account}") for i in range(2)]
    _two_sweeps_pass(pipeline)
    for post_id in posts:
        held = pipeline.get(post_id)
        assert (held.state, held.attempts) == ("approved", 0)
        assert pipeline.calls(post_id) == [] and pipeline.sandbox.ids_for(held.text) == []
    page.reload()
    expect(page.locator('[data-state="approved"]')).to_have_text("2")
    # When it is resumed, they go out, once each
    page.get_by_role("button", name="Resume this credential").click()
    expect(page.locator("#paused")).to_have_text("no")
    _published_once(pipeline, posts)
    # And its posts are a link away, on the posts list filtered to it
    page.get_by_role("link", name="Its posts").click()
    expect(page).to_have_url(re.compile(rf"/dashboard/posts\?credential={credential}$"))
    for post_id in posts:
        expect(page.locator(f'a[href="/dashboard/posts/{post_id}"]').first).to_be_visible()


@SQLITE_ONLY
def test_the_list_fits_a_phone_and_its_switches_work_from_the_keyboard(
    page: Page, pipeline: Pipeline
) -> None:
    # Given credentials of two providers, one of them held by a rate limit
    account = pipeline.account()
    for provider in ("mastodon", "x"):
        pipeline.credential(account, provider, token=f"tok-{provider}")
    with pipeline.sessions.begin() as session:
        session.execute(update(Credential).values(rate_limited_until=utcnow() + timedelta(hours=1)))
    # When the list is read on a phone-sized screen
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto("/dashboard/credentials?problem=held")
    expect(page.locator('#credentials [data-problem="held"]')).to_have_count(2)
    # Then nothing scrolls sideways: the wide table scrolls inside its box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#credentials").evaluate("t => t.scrollWidth > t.clientWidth")
    # When the operator pauses X from the keyboard alone
    button = page.get_by_role("button", name="Pause x")
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    # Then X's switch shows who and when, and it is resumed the same way
    row = page.locator("#providers tr").filter(has=page.get_by_role("cell", name="x", exact=True))
    expect(row).to_contain_text(re.compile(r"paused by \S+ at \d{4}"))
    with pipeline.sessions() as session:
        assert control.pauses(session).providers == {"x"}
    page.get_by_role("button", name="Resume x").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Pause x")).to_be_visible()
    with pipeline.sessions() as session:
        assert control.pauses(session).providers == frozenset()
