"""The charts page in a real headless Chromium after real posts went through a real
pipeline (some published, some refused or retried by the sandbox's fault markers): every
chart drawn (coloured pixels on its canvas), its series equal to the database's own
counts and percentiles, the window choice changing the data, and a new publish arriving
without a reload."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from publisher.core.dashboard.percentiles import cont
from publisher.core.models import ApiCall, Post, PostEvent, utcnow
from publisher.web.chart_series import OUTCOMES, outcome_of
from tests.conftest import SQLITE_ONLY
from tests.support.browser import FULL, WAIT_MS, log_in
from tests.support.dashboard_pipeline import pipeline_fixture, web_fixture  # noqa: F401
from tests.support.dashboard_rows import call
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
DATA = "/dashboard/charts/data"
# A series' pixels: opaque and within a small distance of one of the page's series colours
# (read from charts.js); the grid, the axes and their text are grey.
SERIES_PIXELS = """([canvas, colours]) => {
  const rgb = colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
  const {data} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let found = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 255 && rgb.some(([r, g, b]) =>
        Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40)) {
      found++;
    }
  }
  return found;
}"""
CHARTS_JS = Path(__file__).resolve().parents[2] / "publisher/web/static/charts.js"
COLOURS = re.findall(
    r'"(#[0-9A-Fa-f]{6})"', re.findall(r"COLOURS = \[.*\]", CHARTS_JS.read_text())[0]
)
# The sum of a table's column per series, as the page wrote it.
TABLE_SUMS = """table => {
  const sums = {};
  table.querySelectorAll("td[data-label]").forEach(td => {
    sums[td.dataset.label] = (sums[td.dataset.label] || 0) + Number(td.textContent || 0);
  });
  return sums;
}"""


def _publish_a_mix(pipeline: Pipeline) -> list[int]:
    """Posts that succeed, one retried then published, one refused, one unauthorized,
    on two networks, all scheduled for now (so their lateness counts)."""
    account = pipeline.account()
    mastodon, x = pipeline.credential(account), pipeline.credential(account, "x")
    now = utcnow()
    texts = [(mastodon, f"fine {n}") for n in range(3)] + [
        (x, "fine on x"),
        (mastodon, "[[fault:503,ok]] retried"),
        (mastodon, "[[fault:403]] refused"),
    ]
    ids = [pipeline.post(account, c, text, scheduled_at=now) for c, text in texts]
    other = pipeline.account()  # its credential turns invalid: no other post shares it
    ids.append(pipeline.post(other, pipeline.credential(other), "[[fault:401]] expired"))
    pipeline.wait_final(ids, timeout=120)
    return ids


def _open(page: Page, path: str) -> dict[str, Any]:
    """Open ``path`` and return the JSON its script fetched first, once drawn."""
    with page.expect_response(lambda r: DATA in r.url) as answer:
        page.goto(path)
    expect(page.locator("#charts")).to_have_attribute("data-updates", re.compile(r"^\d+$"))
    found: dict[str, Any] = answer.value.json()
    return found


def _series(data: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    return {c["key"]: {s["label"]: s["values"] for s in c["series"]} for c in data["charts"]}


def _sums(chart: dict[str, list[Any]]) -> dict[str, int]:
    return {label: sum(values) for label, values in chart.items() if sum(values)}


def _window(data: dict[str, Any]) -> tuple[datetime, datetime, int]:
    start, end = (datetime.fromtimestamp(data[k], UTC) for k in ("start", "end"))
    return start, end, data["bucket"]


def _counts(pipeline: Pipeline, data: dict[str, Any], column: Any) -> dict[str, int]:
    """The calls of the page's window per ``column``, counted by our own SQL."""
    start, end, _ = _window(data)
    with pipeline.sessions() as session:
        rows = session.execute(
            select(column, func.count())
            .where(ApiCall.started_at >= start, ApiCall.started_at < end)
            .group_by(column)
        )
        return {str(key): n for key, n in rows}


def _retries(pipeline: Pipeline, data: dict[str, Any]) -> dict[str, int]:
    start, end, _ = _window(data)
    names = {"defer": "retries", "give_up": "give-ups"}
    with pipeline.sessions() as session:
        rows = session.execute(
            select(PostEvent.trigger, func.count())
            .where(PostEvent.at >= start, PostEvent.at < end, PostEvent.trigger.in_(names))
            .group_by(PostEvent.trigger)
        )
        return {names[trigger]: n for trigger, n in rows}


def _expected_percentiles(
    data: dict[str, Any], rows: list[tuple[datetime, str, float]], quantiles: dict[str, float]
) -> dict[str, list[float | None]]:
    """Per bucket and key, ``cont`` of the rows' values (the definition the page uses)."""
    start, _, bucket = _window(data)
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    for at, key, value in rows:
        groups[(key, int((at - start).total_seconds()) // bucket)].append(value)
    expected: dict[str, list[float | None]] = {}
    for (key, index), values in groups.items():
        for name, q in quantiles.items():
            label = f"{key} {name}".strip()
            series = expected.setdefault(label, [None] * len(data["x"]))
            series[index] = pytest.approx(cont(sorted(values), q), abs=2e-3)
    return expected


def _lateness(pipeline: Pipeline, data: dict[str, Any]) -> dict[str, list[float | None]]:
    start, end, _ = _window(data)
    with pipeline.sessions() as session:
        posts = session.execute(
            select(Post.published_at, Post.scheduled_at).where(
                Post.published_at >= start, Post.published_at < end, Post.scheduled_at.is_not(None)
            )
        ).all()
    rows = [(p, "", (p - s).total_seconds()) for p, s in posts]
    return _expected_percentiles(data, rows, {"p50": 0.5, "p95": 0.95, "p99": 0.99})


def _durations(pipeline: Pipeline, data: dict[str, Any]) -> dict[str, list[float | None]]:
    start, end, _ = _window(data)
    with pipeline.sessions() as session:
        calls = session.execute(
            select(ApiCall.started_at, ApiCall.provider, ApiCall.duration_ms).where(
                ApiCall.started_at >= start,
                ApiCall.started_at < end,
                ApiCall.duration_ms.is_not(None),
            )
        ).all()
    return _expected_percentiles(data, [tuple(c) for c in calls], {"p50": 0.5, "p95": 0.95})


def _series_pixels(page: Page) -> dict[str, int]:
    """Each chart's count of pixels in a series' colour."""
    canvases = page.locator(".plot canvas")
    expect(canvases).to_have_count(5)
    return {
        str(canvas.evaluate("c => c.closest('.plot').id")): page.evaluate(
            SERIES_PIXELS, [canvas.element_handle(), COLOURS]
        )
        for canvas in canvases.all()
    }


def _assert_drawn(page: Page) -> None:
    drawn = _series_pixels(page)
    assert all(n > 20 for n in drawn.values()), f"a chart's canvas is blank: {drawn}"


def test_the_charts_draw_what_the_database_holds(page: Page, pipeline: Pipeline) -> None:
    # Given a mix of outcomes published through the pipeline
    _publish_a_mix(pipeline)
    log_in(page, FULL)
    # When the operator opens the charts (the last hour by default)
    data = _open(page, "/dashboard/charts")
    assert data["window"] == "1h" and len(data["x"]) == 60
    charts = _series(data)
    # Then every chart is drawn
    _assert_drawn(page)
    # And each series is what our own SQL finds over the same window
    outcomes = charts["outcomes"]
    assert tuple(outcomes)[:5] == OUTCOMES
    by_outcome: dict[str, int] = defaultdict(int)
    for category, n in _counts(pipeline, data, ApiCall.category).items():
        by_outcome[outcome_of(category)] += n
    assert _sums(outcomes) == by_outcome
    assert {"success", "unavailable", "forbidden", "unauthorized"} <= set(by_outcome)
    assert _sums(charts["providers"]) == _counts(pipeline, data, ApiCall.provider)
    assert _sums(charts["retries"]) == _retries(pipeline, data) and _retries(pipeline, data)
    assert charts["lateness"] == _lateness(pipeline, data)
    assert charts["durations"] == _durations(pipeline, data)
    # And the numbers the page wrote in its table agree
    table = page.locator("#table-outcomes table")
    assert table.evaluate(TABLE_SUMS) == {k: v for k, v in _sums(outcomes).items()} | {
        k: 0 for k in outcomes if not sum(outcomes[k])
    }


@SQLITE_ONLY
def test_the_window_choice_changes_the_data_and_a_publish_arrives_live(
    page: Page, pipeline: Pipeline
) -> None:
    # Given a publish now and a call two days ago
    first = _one_post(pipeline, "now")
    pipeline.wait_final([first])
    with pipeline.sessions.begin() as session:
        call(session, first, utcnow() - timedelta(days=2), provider="webhook")
    log_in(page, FULL)
    hour = _series(_open(page, "/dashboard/charts"))
    assert "webhook" not in hour["providers"]
    assert _series_pixels(page)["plot-outcomes"] > 20
    # When the operator chooses the last 7 days
    page.get_by_label("Window").select_option(label="Last 7 days")
    with page.expect_response(lambda r: DATA in r.url) as answer:
        page.get_by_role("button", name="Show").click()
    week = answer.value.json()
    # Then the page asks for it, in 2-hour buckets, and reaches two days back
    expect(page).to_have_url(re.compile(r"window=7d$"))
    expect(page.locator("#charts")).to_have_attribute("data-window", "7d")
    assert len(week["x"]) == 84 and week["bucket"] == 7_200
    assert _sums(_series(week)["providers"]) == {"mastodon": 1, "webhook": 1}
    assert _series_pixels(page)["plot-providers"] > 20
    # When a post is published while the last hour's page is open
    _open(page, "/dashboard/charts?window=1h")
    page.evaluate("window.stillTheSamePage = true")
    table = page.locator("#table-outcomes table")
    before = table.evaluate(TABLE_SUMS)["success"]
    pipeline.wait_final([_one_post(pipeline, "later")])
    # Then the chart's numbers count it without a reload (the script fetched again)
    page.wait_for_function(
        f"""() => {{
          const cells = document.querySelectorAll('#table-outcomes td[data-label="success"]');
          return [...cells].reduce((sum, td) => sum + Number(td.textContent || 0), 0) > {before};
        }}""",
        timeout=WAIT_MS,
    )
    assert page.evaluate("window.stillTheSamePage") is True
    # And on a phone the charts shrink to their box: nothing scrolls sideways
    page.set_viewport_size({"width": 390, "height": 844})
    canvas = page.locator("#plot-outcomes canvas")
    expect(canvas).to_have_js_property("clientWidth", 358)  # 390 less the page's padding
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _one_post(pipeline: Pipeline, text: str, **extra: Any) -> int:
    account = pipeline.account()
    return pipeline.post(account, pipeline.credential(account), text, **extra)
