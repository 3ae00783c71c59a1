"""A post's page in a real headless Chromium, with a real pipeline behind it: Celery worker
and beat processes on a real Redis publishing to a strict sandbox (every create creates,
so a post published twice shows in its ledger), and ``publisher web`` on the same
database. Open a failed post, read its attempts, retry it, watch it go out; a thread with
media shows its parts; no token ever reaches the page.
"""

from __future__ import annotations

from html import escape

import pytest
from playwright.sync_api import Locator, Page, expect

from publisher.core import blobs, redact, service
from tests.conftest import SQLITE_ONLY
from tests.support.browser import FULL, log_in
from tests.support.dashboard_pipeline import pipeline_fixture, web_fixture  # noqa: F401
from tests.support.media_files import PNG, sized
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TOKEN = "tok-postpage-7f3a9c2e51d4b806"  # the credential's token: never in a page


def _mastodon(pipeline: Pipeline) -> tuple[int, int]:
    account = pipeline.account()
    return account, pipeline.credential(account, "mastodon", token=TOKEN)


def _open(page: Page, post_id: int) -> None:
    page.goto(f"/dashboard/posts/{post_id}")
    expect(page.get_by_role("heading", name=f"Post {post_id}")).to_be_visible()


def _read(side: Locator) -> str:
    """The text of a request or response, opened first if it was collapsed."""
    details = side.locator("xpath=..")
    if details.get_attribute("open") is None:
        side.click()
    expect(details.locator("pre")).to_be_visible()
    return details.locator("pre").inner_text()


def test_a_failed_post_shows_its_attempts_and_is_retried_to_done(
    page: Page, pipeline: Pipeline
) -> None:
    # Given a post that met a 503, then a 403: cancelled as forbidden
    account, credential = _mastodon(pipeline)
    text = "[[fault:503,403]] the page of a failed post"
    post_id = pipeline.post(account, credential, text)
    post = pipeline.wait_final([post_id])[post_id]
    assert (post.state, post.cancel_reason) == ("cancelled", "forbidden")
    # When the operator opens its page
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _open(page, post_id)
    # Then it says where it stands
    expect(page.locator('[data-field="state"]')).to_have_text("cancelled")
    expect(page.locator('[data-field="cancel-reason"]')).to_have_text("forbidden")
    expect(page.locator('[data-field="error"]')).to_contain_text("forbidden")
    # And its timeline: events and calls in time order, each create's status and category
    entries = page.locator(".timeline > li")
    stamps = [entries.nth(i).get_attribute("data-at") or "" for i in range(entries.count())]
    assert stamps == sorted(stamps) and len(stamps) >= 5
    kinds = [entries.nth(i).get_attribute("data-kind") for i in range(entries.count())]
    assert kinds[0] == "event" and "call" in kinds  # approved before anything was sent
    calls = page.locator('.timeline > li[data-kind="call"]')
    expect(calls.locator('[data-field="status"]')).to_have_text(["503", "403"])
    expect(calls.nth(0).locator('[data-field="category"]')).to_contain_text("unavailable")
    expect(calls.nth(1).locator('[data-field="category"]')).to_have_text("forbidden")
    # And each create's request and response can be read, the token redacted
    first = calls.nth(0)
    request = _read(first.get_by_text("Request", exact=False))
    assert "Authorization: [redacted]" in request and "the page of a failed post" in request
    assert "Service Unavailable" in _read(first.get_by_text("Response", exact=False))
    assert "not allowed" in _read(calls.nth(1).get_by_text("Response", exact=False))
    # When the operator retries it (the fault is spent: the next create succeeds)
    page.get_by_role("button", name="Retry now").click()
    expect(page.get_by_role("status")).to_contain_text("Retry now")
    # Then the page follows it by itself to done, with the new attempt's 200
    expect(page.locator('[data-field="state"]')).to_have_text("done")
    expect(calls.locator('[data-field="status"]')).to_have_text(["503", "403", "200"])
    expect(page.locator('[data-field="remote"]')).to_be_visible()
    expect(page.get_by_role("button", name="Retry now")).to_have_count(0)
    # And it was published once, and the retry is in the audit log
    assert pipeline.sandbox.creates_by_text()[text] == 1
    with pipeline.sessions() as session:
        (action,) = service.list_actions(session)
        assert (action.action, action.detail) == ("retry_now", {"post": post_id})
    assert TOKEN not in page.content()


def _secret_forms() -> set[str]:
    """The token as a page could show it: raw, encoded as providers echo it, escaped."""
    forms = {f for f in redact.encodings(TOKEN) if len(f) >= redact.MIN_CUT_PREFIX}
    return forms | {escape(f) for f in forms}


@SQLITE_ONLY
def test_no_token_reaches_the_page_even_when_the_provider_echoes_it(
    page: Page, pipeline: Pipeline
) -> None:
    # Given posts whose provider echoed the Authorization header back (in a body, in a
    # redirect), and one published after a 503
    account, credential = _mastodon(pipeline)
    texts = ["[[fault:echo_auth]] echo", "[[fault:echo_redirect]] echo", "[[fault:503]] fine"]
    ids = [pipeline.post(account, credential, t) for t in texts]
    pipeline.wait_final(ids)
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    for post_id in ids:
        # When each page is opened, every request and response unfolded
        _open(page, post_id)
        for summary in page.locator("details:not([open]) > summary").all():
            summary.click()
        # Then neither the page nor its HTML holds the token in any form
        shown = page.content() + page.request.get(f"/dashboard/posts/{post_id}").text()
        assert "[redacted]" in shown
        leaked = [form for form in _secret_forms() if form in shown]
        assert leaked == [], post_id


@SQLITE_ONLY
def test_a_thread_with_media_shows_its_parts_on_a_phone(page: Page, pipeline: Pipeline) -> None:
    # Given a two-part thread, part 1 carrying an uploaded image, published
    account, credential = _mastodon(pipeline)
    store = blobs.from_settings(pipeline.settings)
    with pipeline.sessions.begin() as session:
        image = service.create_from_upload(
            session, store, sized(PNG, 3000), "c.png", "A cat", account
        )
        media_id = image.id
    parts = [{"text": "thread 1/2", "media": [{"id": media_id}]}, {"text": "thread 2/2"}]
    post_id = pipeline.post(account, credential, None, parts=parts)
    assert pipeline.wait_final([post_id])[post_id].state == "done"
    # When its page is opened on a phone
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, FULL)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _open(page, post_id)
    # Then each part shows its text, its media with alt text and state, its steps
    shown = page.locator(".parts > li")
    expect(shown).to_have_count(2)
    expect(shown.nth(0)).to_contain_text("thread 1/2")
    expect(shown.nth(0).locator(f'[data-media="{media_id}"]')).to_contain_text("A cat")
    expect(shown.nth(0).locator(".media-state")).to_have_text("uploaded")
    expect(shown.nth(0)).to_contain_text("p0.m0")
    expect(shown.nth(1)).to_contain_text("thread 2/2")
    expect(shown.nth(1)).to_contain_text("Created as")
    # And the steps' calls are named in the timeline; nothing scrolls sideways
    expect(page.locator(".timeline")).to_contain_text("step p1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # And a collapsed answer (the upload's) opens from the keyboard
    summary = page.locator("details:not([open]) > summary").first.element_handle()
    summary.focus()
    page.keyboard.press("Enter")
    assert summary.evaluate("s => s.parentElement.open") is True
