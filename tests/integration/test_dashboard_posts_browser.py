"""The posts list in a real headless Chromium, with a real pipeline behind it (Celery
worker and beat on a real Redis, the strict sandbox standing in for the networks) and a
real ``publisher web`` on the same database: filter the posts that failed, retry all of
them from the browser, watch them go out exactly once; cancel a selection only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from publisher.core.settings import Settings
from tests.conftest import SQLITE_ONLY
from tests.support.browser import (
    FULL,
    Console,
    log_in,
    screenshot_path,
)
from tests.support.dashboard_pipeline import pipeline_with_beat, web_fixture  # noqa: F401
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# How long the pipeline may take to settle a handful of posts on a loaded machine (s): a
# generous bound on an observed event, not an expected wait.
SETTLE = 120.0
TRIES = 2  # attempts a failing post gets before it gives up back to draft


@pytest.fixture
def pipeline(settings: Settings, tmp_path: Path) -> Iterator[Pipeline]:
    """Worker and beat on the test's database and secret key; the strict sandbox's
    faults, when a test turns ``fault_rate`` up, are 503s before anything is stored."""
    key = ",".join(settings.secret_keys)
    with pipeline_with_beat(
        tmp_path, settings.database_url, fault_mix=("503",), PUBLISHER_SECRET_KEY=key
    ) as running:
        yield running


def _filter(page: Page, state: str, provider: str, text: str) -> None:
    """Fills the filter form as an operator would, and submits it."""
    page.goto("/dashboard/posts")
    page.get_by_label(state, exact=True).check()
    page.get_by_label("Provider").select_option(provider)
    page.get_by_label("Text contains").fill(text)
    page.get_by_role("button", name="Filter").click()


def test_failed_posts_filtered_retried_in_bulk_go_out_once(page: Page, pipeline: Pipeline) -> None:
    sandbox = pipeline.sandbox
    # Given two campaign posts published on mastodon
    account = pipeline.account()
    mastodon = pipeline.credential(account, "mastodon")
    webhook = pipeline.credential(account, "webhook")
    published = [pipeline.post(account, mastodon, f"campaign ok {i}") for i in range(2)]
    assert {p.state for p in pipeline.wait_final(published, SETTLE).values()} == {"done"}
    # And, while every create answers 503, three campaign posts on mastodon and one on
    # the webhook that give up back to draft, and a mastodon draft of another text
    sandbox.fault_rate = 1.0
    failing = [f"campaign failing {i}" for i in range(3)]
    doomed = [pipeline.post(account, mastodon, text, max_attempts=TRIES) for text in failing]
    hook = pipeline.post(account, webhook, "campaign failing hook", max_attempts=TRIES)
    other = pipeline.post(account, mastodon, "another draft", approve=False)
    settled = pipeline.wait_final([*doomed, hook], SETTLE)
    assert {p.state for p in settled.values()} == {"draft"}
    # When the operator filters drafts on mastodon saying 'Campaign'
    log_in(page, FULL)
    _filter(page, "draft", "mastodon", "Campaign")
    # Then exactly the three failed posts are listed and counted
    expect(page.locator("#match-count")).to_have_text("3 posts match the filter.")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    listed = {int(v) for v in rows.evaluate_all("rows => rows.map(r => r.dataset.post)")}
    assert listed == set(doomed)
    page.screenshot(path=screenshot_path("posts_list"), full_page=True)
    # When they retry all matching, the confirmation names the count and the filter
    page.get_by_role("button", name="Retry now / re-approve all 3 matching").click()
    expect(page.locator("#confirm-count")).to_contain_text("This will touch 3 posts")
    expect(page.locator("#confirm-filter")).to_contain_text("Campaign")
    page.screenshot(path=screenshot_path("posts_bulk_confirm"), full_page=True)
    # And, the fault cleared, they confirm
    sandbox.fault_rate = 0.0
    page.get_by_role("button", name="Retry now / re-approve: 3 posts").click()
    expect(page.locator("#bulk-result")).to_have_text("3 done, 0 skipped.")
    # Then the three go out, each exactly once, and nothing else moved
    done = pipeline.wait_final(doomed, SETTLE, final={"done"})
    assert all(post.external_id for post in done.values())
    for text in ["campaign ok 0", "campaign ok 1", *failing]:
        assert sandbox.create_count(text=text) == 1, text
    assert [pipeline.get(i).state for i in (hook, other)] == ["draft", "draft"]
    assert sandbox.create_count(text="campaign failing hook") == 0
    # And the list, reloaded, shows them done
    page.get_by_role("link", name="Back to the list").click()
    expect(page.locator("#match-count")).to_have_text("0 posts match the filter.")
    _filter(page, "done", "mastodon", "campaign")
    expect(page.locator("#match-count")).to_have_text("5 posts match the filter.")
    # And the audit page lists one bulk action on three posts
    page.get_by_role("link", name="Audit").click()
    action = page.get_by_role("row").filter(has_text="bulk_retry_now")
    expect(action).to_have_count(1)
    expect(action.get_by_role("cell").nth(3)).to_have_text("3")


@SQLITE_ONLY
def test_a_selection_of_two_of_five_is_cancelled_the_rest_untouched(
    page: Page, pipeline: Pipeline
) -> None:
    # Given five drafts
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon")
    ids = [pipeline.post(account, credential, f"note {i}", approve=False) for i in range(5)]
    chosen = [ids[1], ids[3]]
    # When the operator selects two of them from the keyboard and cancels the selection
    log_in(page, FULL)
    page.goto("/dashboard/posts?state=draft")
    expect(page.locator("#match-count")).to_have_text("5 posts match the filter.")
    for post_id in chosen:
        box = page.get_by_label(f"Select post {post_id}", exact=True)
        box.focus()
        page.keyboard.press("Space")
        expect(box).to_be_checked()
    page.get_by_role("button", name="Cancel selected").click()
    expect(page.locator("#confirm-count")).to_contain_text("touch 2 of the 2 selected posts")
    page.get_by_role("button", name="Cancel: 2 posts").click()
    expect(page.locator("#bulk-result")).to_have_text("2 done, 0 skipped.")
    # Then those two are cancelled and the other three are drafts still
    states = {post_id: pipeline.get(post_id).state for post_id in ids}
    assert states == {i: "cancelled" if i in chosen else "draft" for i in ids}
    page.get_by_role("link", name="Back to the list").click()
    expect(page.locator("#match-count")).to_have_text("3 posts match the filter.")


@SQLITE_ONLY
def test_the_list_fits_a_phone_and_a_bad_filter_names_its_field(
    page: Page, pipeline: Pipeline, console: Console
) -> None:
    # Given a post with a long text, on a phone-sized screen
    account = pipeline.account()
    credential = pipeline.credential(account, "mastodon")
    pipeline.post(account, credential, "long " * 60, approve=False)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, FULL)
    page.goto("/dashboard/posts")
    expect(page.locator("tbody tr")).to_have_count(1)
    # Then nothing scrolls sideways but the table, inside its box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator(".table-box")
    assert box.evaluate("box => box.scrollWidth > box.clientWidth")
    page.screenshot(path=screenshot_path("posts_phone"), full_page=True)
    for name in ("Filter", "Cancel selected"):
        found = page.get_by_role("button", name=name).bounding_box()
        assert found is not None and found["x"] + found["width"] <= 390
    # And a malformed filter answers a page naming the field
    console.expected.add(422)
    page.goto("/dashboard/posts?state=draft&account=first")
    expect(page.get_by_role("heading", name="Bad input")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"^account: 'first' is not an id"))
