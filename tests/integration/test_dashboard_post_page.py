"""A post's page over HTTP (``publisher web``'s app in process): what it shows, its
refusals (an unknown post, an id that is not one, a read-only key, a missing CSRF token,
a state that changed meanwhile) and its audited actions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.core.dashboard.post_actions import PostAction, allowed_actions
from publisher.core.models import DashboardAction, Media, Notification, Post, PostStep
from publisher.core.settings import Settings
from publisher.core.states import State
from publisher.errors import Conflict
from publisher.web.post_page import ACTIONS
from tests.conftest import SQLITE_ONLY
from tests.support.dashboard_http import csrf_in, login_answer
from tests.support.dashboard_rows import T0, call, credential, event, post

FULL, READONLY = "test-key", "read-key"  # the settings fixture's key, and one more
S = timedelta(seconds=1)
LONG_BODY = json.dumps({"statuses": [{"id": str(n), "content": "x" * 40} for n in range(40)]})


def _log_in(client: TestClient, key: str) -> None:
    assert login_answer(client, key).status_code == 303


def _in_state(sessions: sessionmaker[Session], state: str) -> int:
    with sessions.begin() as session:
        return post(session, credential(session), state=state, cancel_reason=None)


def _opened(
    client: TestClient, sessions: sessionmaker[Session], state: str, key: str = FULL
) -> tuple[int, str]:
    """A post in ``state``, and its page as ``key`` sees it."""
    post_id = _in_state(sessions, state)
    _log_in(client, key)
    return post_id, client.get(f"/dashboard/posts/{post_id}").text


def _audit(sessions: sessionmaker[Session]) -> list[tuple[str, int, dict[str, int]]]:
    with sessions() as session:
        rows = session.scalars(select(DashboardAction).order_by(DashboardAction.id))
        return [(r.action, r.posts, r.detail) for r in rows]


def _untouched(sessions: sessionmaker[Session], post_id: int, state: str) -> None:
    """The post is still in ``state`` and nothing was audited."""
    with sessions() as session:
        found = session.get(Post, post_id)
        assert found is not None and found.state == state
    assert _audit(sessions) == []


def _history(sessions: sessionmaker[Session]) -> int:
    """A thread with media that met a 503, was looked up, then published."""
    with sessions.begin() as session:
        c = credential(session)
        image = Media(source="upload", kind="image", content_type="image/png", size=10, alt="cat")
        session.add(image)
        session.flush()
        parts = [
            {"text": "first part", "media": [{"id": image.id, "type": "image", "alt": "cat"}]},
            {"text": "second part", "media": []},
        ]
        p = post(session, c, parts=parts, state="done", external_id="r1", ambiguous=False)
        event(session, p, T0, "start", from_state="approved", to_state="running")
        call(
            session,
            p,
            T0 + S,
            status_code=503,
            category="unavailable_ambiguous",
            request_headers={"Authorization": "[redacted]"},
            request_body='{"status":"a"}',
            response_body="Service Unavailable",
            duration_ms=12.5,
            step="p0.m0",
        )
        event(session, p, T0 + 2 * S, "defer", to_state="retry", reason="503 unavailable")
        call(
            session,
            p,
            T0 + 3 * S,
            method="LOOKUP",
            category="reconcile_not_found",
            response_body=LONG_BODY,
        )
        call(
            session,
            p,
            T0 + 4 * S,
            status_code=200,
            category="success",
            attempt=2,
            response_body='{"id":"r1"}',
            step="p0",
        )
        session.add(PostStep(post_id=p, key="p0.m0", external_id="m9", attempt=2, at=T0 + 4 * S))
        session.add(PostStep(post_id=p, key="p0", external_id="r1", attempt=2, at=T0 + 4 * S))
        event(session, p, T0 + 5 * S, "succeed", to_state="done")
        owner = session.get(Post, p)
        assert owner is not None
        note = Notification(account_id=owner.account_id, post_id=p, kind="published", message="out")
        session.add(note)
        return p


def test_the_page_shows_where_a_post_stands_and_its_whole_history(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a thread with media whose first attempt met a 503, looked up, then published
    p = _history(sessions)
    _log_in(dashboard, FULL)
    # When its page is opened
    answer = dashboard.get(f"/dashboard/posts/{p}")
    html = unescape(answer.text)
    # Then the header, a link to its credential, its parts and media with their steps
    assert answer.status_code == 200, html
    assert 'data-field="state">done<' in html and 'data-field="provider">mastodon<' in html
    assert re.search(r'href="/dashboard/credentials/\d+"', html)
    assert "first part" in html and "second part" in html
    assert "Alt text: “cat”" in html and ">uploaded<" in html and "m9" in html
    # And the timeline: events and calls interleaved in time order
    kinds = re.findall(r'data-kind="(\w+)" data-at="([^"]+)"', html)
    assert [k for k, _ in kinds] == ["event", "call", "event", "lookup", "call", "event"]
    assert [at for _, at in kinds] == sorted(at for _, at in kinds)
    # And each call's status, category, redacted request and response
    assert 'data-field="status">503<' in html and "unavailable_ambiguous" in html
    assert "Authorization: [redacted]" in html and "Service Unavailable" in html
    assert '"id": "r1"' in html  # a JSON body, indented
    # And the lookup's long answer collapsed, the short ones open
    assert "<details><summary>Response (" in html
    assert "<details open><summary>Request</summary>" in html
    # And its notifications; a done post offers no action
    assert "published" in html and "out" in html
    assert "/actions/" not in html


@pytest.mark.parametrize(
    ("path", "status", "named"),
    [
        ("/dashboard/posts/987654", 404, "post 987654 not found"),
        ("/dashboard/posts/abc", 422, "'abc' is not an id"),
        ("/dashboard/posts/0", 422, "'0' is not an id"),
        ("/dashboard/posts/-3", 422, "'-3' is not an id"),
        ("/dashboard/posts/99999999999999999999", 422, "is not an id"),
        ("/dashboard/posts/%C2%B2", 422, "'²' is not an id"),
    ],
)
def test_an_unknown_or_malformed_id_answers_a_page_naming_it(
    dashboard: TestClient, path: str, status: int, named: str
) -> None:
    _log_in(dashboard, FULL)
    answer = dashboard.get(path)
    assert (answer.status_code, answer.headers["content-type"][:9]) == (status, "text/html")
    assert named in unescape(answer.text)
    htmx = dashboard.get(path, headers={"HX-Request": "true"})
    assert htmx.status_code == status and named in htmx.json()["message"]


def test_an_action_on_an_unknown_post_or_an_unknown_action_is_404(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    p, html = _opened(dashboard, sessions, "retry")
    csrf = csrf_in(html)
    assert (
        dashboard.post("/dashboard/posts/987654/actions/cancel", data={"csrf": csrf}).status_code
        == 404
    )
    unknown = dashboard.post(f"/dashboard/posts/{p}/actions/publish", data={"csrf": csrf})
    assert unknown.status_code == 404 and "no action &#39;publish&#39;" in unknown.text
    bad = dashboard.post("/dashboard/posts/x1/actions/cancel", data={"csrf": csrf})
    assert bad.status_code == 422
    assert _audit(sessions) == []


@pytest.mark.parametrize(
    ("state", "action", "after"),
    [
        ("retry", "retry_now", "retry"),
        ("draft", "retry_now", "approved"),
        ("cancelled", "retry_now", "approved"),
        ("approved", "cancel", "cancelled"),
        ("cancelled", "reopen", "draft"),
    ],
)
def test_an_action_is_done_audited_and_said(
    dashboard: TestClient, sessions: sessionmaker[Session], state: str, action: str, after: str
) -> None:
    # Given a post whose state allows the action, its page showing the button
    p, html = _opened(dashboard, sessions, state)
    assert f'action="/dashboard/posts/{p}/actions/{action}"' in html
    # When the operator presses it
    answer = dashboard.post(
        f"/dashboard/posts/{p}/actions/{action}",
        data={"csrf": csrf_in(html)},
        follow_redirects=False,
    )
    # Then back to the post's page, which says what was done; the post moved; audited
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        f"/dashboard/posts/{p}?did={action}",
    )
    shown = dashboard.get(answer.headers["location"]).text
    assert 'role="status"' in shown and f'data-field="state">{after}<' in shown
    assert _audit(sessions) == [(action, 1, {"post": p})]


def test_a_state_changed_meanwhile_answers_409_and_writes_nothing(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a page drawn while the post waited for a retry (Cancel offered)
    p, html = _opened(dashboard, sessions, "retry")
    assert f"/dashboard/posts/{p}/actions/cancel" in html
    # When the post is published before the operator presses Cancel
    with sessions.begin() as session:
        session.execute(update(Post).where(Post.id == p).values(state="done"))
    answer = dashboard.post(f"/dashboard/posts/{p}/actions/cancel", data={"csrf": csrf_in(html)})
    # Then a page says the state no longer allows it; nothing changed, nothing audited
    assert (
        answer.status_code == 409 and "cannot cancel a post in state &#39;done&#39;" in answer.text
    )
    htmx = dashboard.post(
        f"/dashboard/posts/{p}/actions/retry_now",
        headers={"X-CSRF-Token": csrf_in(html), "HX-Request": "true"},
    )
    assert htmx.status_code == 409 and htmx.json()["error"] == "conflict"
    _untouched(sessions, p, "done")


@SQLITE_ONLY
def test_a_readonly_key_sees_no_button_and_is_refused(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    p, html = _opened(dashboard, sessions, "retry", READONLY)
    assert "(read-only)" in html and "/actions/" not in html
    answer = dashboard.post(f"/dashboard/posts/{p}/actions/cancel", data={"csrf": csrf_in(html)})
    assert answer.status_code == 403 and "read-only" in answer.text
    _untouched(sessions, p, "retry")


@SQLITE_ONLY
@pytest.mark.parametrize("csrf", [None, "", "forged"])
def test_an_action_without_its_csrf_token_is_refused(
    dashboard: TestClient, sessions: sessionmaker[Session], csrf: str | None
) -> None:
    p = _in_state(sessions, "retry")
    _log_in(dashboard, FULL)
    data = {} if csrf is None else {"csrf": csrf}
    answer = dashboard.post(f"/dashboard/posts/{p}/actions/cancel", data=data)
    assert answer.status_code == 403 and "CSRF" in answer.text
    _untouched(sessions, p, "retry")


def test_the_offered_actions_are_exactly_those_the_service_does(
    sessions: sessionmaker[Session],
) -> None:
    """allowed_actions agrees with the service in every state: an action offered
    succeeds, one not offered is refused as a conflict."""
    for state in State:
        for action in PostAction:
            p = _in_state(sessions, state.value)
            with sessions() as session:
                try:
                    ACTIONS[action](session, p, T0)
                    done = True
                except Conflict:
                    done = False
                session.rollback()
            assert done == (action in allowed_actions(state.value)), (state, action)


@SQLITE_ONLY
def test_a_moving_post_asks_again_and_hears_nothing_new_until_it_moves(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    # Given a post waiting for a retry: its page polls with the fingerprint it shows
    p, html = _opened(dashboard, sessions, "retry")
    found = re.search(rf'hx-get="/dashboard/posts/{p}\?seen=(\w+)"', html)
    assert found, html
    poll = f"/dashboard/posts/{p}?seen={found.group(1)}"
    # Then nothing new answers 204; a new event answers the page again
    assert dashboard.get(poll, headers={"HX-Request": "true"}).status_code == 204
    with sessions.begin() as session:
        event(session, p, T0, "start", from_state="retry", to_state="running")
    assert dashboard.get(poll, headers={"HX-Request": "true"}).status_code == 200
    # And a finished post's page does not poll
    done = _in_state(sessions, "done")
    assert "hx-trigger" not in dashboard.get(f"/dashboard/posts/{done}").text


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("state", "action", "announced"),
    [
        ("draft", "retry_now", True),
        ("retry", "retry_now", True),
        ("approved", "cancel", False),
    ],
)
def test_a_post_made_due_is_announced_after_the_commit(
    settings: Settings, sessions: sessionmaker[Session], state: str, action: str, announced: bool
) -> None:
    # Given the dashboard's app with the API's announcer (enqueue a soon-due post at once)
    heard: list[tuple[int, bool]] = []

    def announce(post_id: int, _due: object) -> None:
        with sessions() as session:  # the move is committed by then
            found = session.get(Post, post_id)
            heard.append((post_id, found is not None and found.state in ("approved", "retry")))

    app = create_app(settings, sessions=sessions, on_approved=announce)
    with TestClient(app) as client:
        p, html = _opened(client, sessions, state)
        # When the operator acts from the post's page
        client.post(f"/dashboard/posts/{p}/actions/{action}", data={"csrf": csrf_in(html)})
    # Then a post left due is announced, once, after its move committed; a cancel is not
    assert heard == ([(p, True)] if announced else [])
