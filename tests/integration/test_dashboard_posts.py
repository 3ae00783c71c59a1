"""The posts list and its bulk actions over HTTP (the app in process, ``TestClient``):
filters read from the query string (a bad one is a 422 naming the field), pages, the
confirmation's count, the action and its result; read-only keys and forms without their
CSRF token change nothing. The browser drives the same pages in
test_dashboard_posts_browser.py.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.models import DashboardAction, Post
from tests.conftest import SQLITE_ONLY
from tests.support.browser import FULL, READONLY
from tests.support.dashboard_http import csrf_in, login_answer
from tests.support.dashboard_rows import credential, post

pytestmark = pytest.mark.integration


def _log_in(client: TestClient, key: str) -> str:
    """Logs in with ``key`` through the login form; the session's CSRF token."""
    login_answer(client, key)
    return csrf_in(client.get("/dashboard/posts").text)


def _seed(sessions: sessionmaker[Session]) -> dict[str, list[int]]:
    """Drafts and done posts on mastodon and x, some saying 'sale'."""
    made: dict[str, list[int]] = {"sale": [], "other": []}
    with sessions.begin() as session:
        mastodon, x = credential(session, "mastodon"), credential(session, "x")
        for i in range(6):
            kind = "sale" if i % 2 == 0 else "other"
            state = "draft" if i < 4 else "done"
            made[kind].append(post(session, mastodon, state=state, text=f"{kind} {i}"))
        post(session, x, state="draft", text="sale on x")
    return made


def _states(sessions: sessionmaker[Session], ids: list[int]) -> list[str]:
    with sessions() as session:
        query = select(Post.state).where(Post.id.in_(ids)).order_by(Post.id)
        return list(session.scalars(query))


def _audit_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.execute(select(func.count()).select_from(DashboardAction)).scalar_one()


def test_filter_confirm_and_retry_all_matching(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given drafts and done posts, some saying 'sale', on two networks
    made = _seed(sessions)
    csrf = _log_in(dashboard, FULL)
    # When the operator filters drafts on mastodon saying 'sale'
    query = "state=draft&provider=mastodon&text=SALE&account=&category="
    listed = dashboard.get(f"/dashboard/posts?{query}")
    assert listed.status_code == 200
    assert "<strong>2</strong> posts match the filter" in listed.text
    shown = [int(i) for i in re.findall(r'<tr data-post="(\d+)"', listed.text)]
    assert shown == sorted(made["sale"][:2], reverse=True)
    # Then the confirmation of "retry all matching" says 2, and repeats the filter
    confirm = dashboard.get(f"/dashboard/bulk/confirm?{query}&do=retry_now:matching")
    assert confirm.status_code == 200
    assert re.search(r"This will touch <strong>2</strong> posts", confirm.text)
    assert "<dd>mastodon</dd>" in confirm.text and "<dd>SALE</dd>" in confirm.text
    upto = re.search(r'name="upto" value="(\d+)"', confirm.text)
    assert upto and int(upto.group(1)) == made["sale"][1]
    # When it is confirmed
    form = {"csrf": csrf, "do": "retry_now:matching", "state": "draft", "provider": "mastodon"}
    done = dashboard.post(
        "/dashboard/bulk/apply", data={**form, "text": "SALE", "upto": upto.group(1)}
    )
    # Then the result page says 2 done, the two drafts are approved, nothing else moved
    assert done.status_code == 200 and "<strong>2</strong> done" in done.text, done.text
    assert _states(sessions, made["sale"]) == ["approved", "approved", "done"]
    assert _states(sessions, made["other"]) == ["draft", "draft", "done"]
    assert _audit_rows(sessions) == 1
    # And a reload of the result page shows it again without acting twice
    assert "<strong>2</strong> done" in dashboard.get(str(done.url)).text
    assert _audit_rows(sessions) == 1


@SQLITE_ONLY
def test_a_selection_is_confirmed_by_how_many_it_applies_to(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    made = _seed(sessions)
    csrf = _log_in(dashboard, FULL)
    # A draft and a done post selected: cancel applies to one of them
    chosen = [made["other"][0], made["other"][2]]
    ids = "&".join(f"id={i}" for i in chosen)
    confirm = dashboard.get(f"/dashboard/bulk/confirm?do=cancel:selection&{ids}")
    assert re.search(r"This will touch <strong>1</strong> of the 2 selected posts", confirm.text)
    data = {"csrf": csrf, "do": "cancel:selection", "id": [str(i) for i in chosen]}
    done = dashboard.post("/dashboard/bulk/apply", data=data)
    assert "<strong>1</strong> done, <strong>1</strong> skipped" in done.text
    assert _states(sessions, made["other"]) == ["cancelled", "draft", "done"]


@SQLITE_ONLY
def test_pages_walk_back_by_id_carrying_the_filter(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        owner = credential(session)
        ids = [post(session, owner, state="draft", text=f"p{i}") for i in range(55)]
        post(session, owner, state="done", text="not a draft")
    _log_in(dashboard, FULL)
    first = dashboard.get("/dashboard/posts?state=draft").text
    older = re.search(r'href="/dashboard/posts\?state=draft&amp;before=(\d+)"', first)
    assert older and int(older.group(1)) == ids[5]
    second = dashboard.get(f"/dashboard/posts?state=draft&before={older.group(1)}").text
    assert [int(i) for i in re.findall(r'data-post="(\d+)"', second)] == ids[4::-1]
    assert 'href="/dashboard/posts?state=draft">Newest</a>' in second
    assert "before=" not in second.split("Newest")[1]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=bogus", "state"),
        ("provider=myspace", "provider"),
        ("provider=x&provider=mastodon", "provider"),
        ("account=abc", "account"),
        ("account=%C2%B2", "account"),  # a digit to str.isdigit, not to int: a 500 before
        ("account=0", "account"),
        ("credential=99999999999999999999999", "credential"),
        ("category=Not%20A%20Name", "category"),
        ("cancel_reason=%3Cscript%3E", "cancel_reason"),
        ("ambiguous=maybe", "ambiguous"),
        ("unconfirmed=1", "unconfirmed"),
        ("scheduled_from=yesterday", "scheduled_from"),
        ("scheduled_from=2026-11-30T08:00&scheduled_to=2026-11-30T07:00", "scheduled_to"),
        ("text=" + "a" * 201, "text"),
        ("stat=draft", "stat"),
        ("before=-1", "before"),
    ],
)
def test_a_bad_filter_is_a_422_naming_the_field(
    dashboard: TestClient, query: str, field: str
) -> None:
    _log_in(dashboard, FULL)
    answer = dashboard.get(f"/dashboard/posts?{query}")
    assert answer.status_code == 422
    assert f"<code>{field}</code>:" in answer.text
    assert "<script>" not in answer.text
    htmx = dashboard.get(f"/dashboard/posts?{query}", headers={"HX-Request": "true"})
    assert htmx.status_code == 422 and htmx.json()["field"] == field
    # The same filter in a bulk confirmation is refused the same way
    confirm = dashboard.get(f"/dashboard/bulk/confirm?do=cancel:matching&{query}")
    assert confirm.status_code == 422 and f"<code>{field}</code>:" in confirm.text


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("do=nuke:matching", "do"),
        ("", "do"),
        ("do=cancel:selection", "id"),
        ("do=cancel:selection&id=x", "id"),
    ],
)
def test_a_bad_bulk_request_is_a_422_naming_the_field(
    dashboard: TestClient, query: str, field: str
) -> None:
    _log_in(dashboard, FULL)
    answer = dashboard.get(f"/dashboard/bulk/confirm?{query}")
    assert answer.status_code == 422 and f"<code>{field}</code>:" in answer.text
    assert dashboard.get("/dashboard/bulk/result/12345").status_code == 404
    assert dashboard.get("/dashboard/bulk/result/abc").status_code == 422


@SQLITE_ONLY
def test_a_readonly_key_lists_but_cannot_act(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    made = _seed(sessions)
    csrf = _log_in(dashboard, READONLY)
    listed = dashboard.get("/dashboard/posts")
    assert listed.status_code == 200 and "<strong>7</strong> posts match" in listed.text
    assert 'name="id"' not in listed.text and "/dashboard/bulk/confirm" not in listed.text
    assert dashboard.get("/dashboard/bulk/confirm?do=cancel:matching").status_code == 403
    # A hand-made action with the session's own CSRF token is refused, nothing changed
    answer = dashboard.post("/dashboard/bulk/apply", data={"csrf": csrf, "do": "cancel:matching"})
    assert answer.status_code == 403
    assert _states(sessions, made["sale"]) == ["draft", "draft", "done"]
    assert _audit_rows(sessions) == 0


@SQLITE_ONLY
@pytest.mark.parametrize("csrf", [None, "", "forged"])
def test_an_action_without_its_csrf_token_is_refused(
    dashboard: TestClient, sessions: sessionmaker[Session], csrf: str | None
) -> None:
    made = _seed(sessions)
    _log_in(dashboard, FULL)
    data = {"do": "cancel:matching"} | ({} if csrf is None else {"csrf": csrf})
    answer = dashboard.post("/dashboard/bulk/apply", data=data)
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert _states(sessions, made["sale"]) == ["draft", "draft", "done"]
    assert _audit_rows(sessions) == 0
