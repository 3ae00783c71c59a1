"""The dashboard's access rules over HTTP: login, sessions, CSRF, read-only keys, audit.

The app runs in process (``TestClient``) on both databases; the browser tests
(test_dashboard_browser.py) drive the same rules through a real Chromium.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.core import control, service
from publisher.core.models import utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from publisher.errors import InvalidInput
from tests.support.dashboard_http import csrf_in, login_answer

FULL, READONLY = "test-key", "read-key"  # the settings fixture's key, and one more
SECRET_TOKEN = "mastodon-token-never-shown"


def _login(client: TestClient, key: str) -> int:
    return login_answer(client, key).status_code


def _session_cookie(answer: Response) -> str:
    return next(
        value
        for value in answer.headers.get_list("set-cookie")
        if value.startswith("publisher_dashboard=")
    )


def _csrf(client: TestClient) -> str:
    return csrf_in(client.get("/dashboard").text)


def test_every_page_but_login_sends_a_stranger_to_login(dashboard: TestClient) -> None:
    for path in ("/dashboard", "/dashboard/audit", "/dashboard/fragments/counts"):
        answer = dashboard.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")
    htmx = dashboard.get("/dashboard/fragments/counts", headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx.headers["HX-Redirect"]) == (401, "/dashboard/login")
    assert dashboard.get("/dashboard/login").status_code == 200


def test_a_wrong_key_is_refused_and_a_forged_cookie_ignored(dashboard: TestClient) -> None:
    assert _login(dashboard, "not-a-key") == 401
    assert _login(dashboard, "") == 401
    dashboard.cookies.set("publisher_dashboard", "eyJ3IjoiYSJ9.forged.sig", path="/dashboard")
    assert dashboard.get("/dashboard", follow_redirects=False).status_code == 303


def test_login_needs_its_form_token(dashboard: TestClient) -> None:
    # Given no login form fetched (another site posting a key into this browser)
    answer = dashboard.post("/dashboard/login", data={"key": FULL, "login_token": "guess"})
    # Then no session
    assert answer.status_code == 403
    assert dashboard.get("/dashboard", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_httponly_strict_and_names_no_key(dashboard: TestClient) -> None:
    cookie = _session_cookie(login_answer(dashboard, FULL))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert FULL not in cookie


def test_the_cookie_is_secure_over_https(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    app = create_app(settings, sessions=sessions)
    with TestClient(app, base_url="https://testserver") as client:
        cookie = _session_cookie(login_answer(client, FULL))
    assert "Secure" in cookie


def test_a_full_key_acts_and_the_action_is_audited(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    assert _login(dashboard, FULL) == 303
    csrf = _csrf(dashboard)
    # When the operator pauses everything from the dashboard
    answer = dashboard.post("/dashboard/actions/pause", data={"csrf": csrf})
    # Then the switch is on, named by the key's fingerprint, and the audit log says so
    assert answer.status_code == 200 and "Resume all publishing" in answer.text
    with sessions() as session:
        (row,) = service.list_actions(session)
        assert row.action == "pause" and row.who.startswith("key:")
        assert FULL not in row.who
        assert service.switches_on(session)[0].by == row.who
    audit = dashboard.get("/dashboard/audit")
    assert row.who in audit.text and "pause" in audit.text


def test_a_readonly_key_sees_but_cannot_act(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    assert _login(dashboard, READONLY) == 303
    page = dashboard.get("/dashboard")
    assert page.status_code == 200 and "(read-only)" in page.text
    assert "Pause all publishing" not in page.text
    csrf = _csrf(dashboard)
    answer = dashboard.post("/dashboard/actions/pause", data={"csrf": csrf})
    assert answer.status_code == 403 and "read-only" in answer.text
    htmx = dashboard.post(
        "/dashboard/actions/pause", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert htmx.status_code == 403 and htmx.json()["error"] == "forbidden"
    with sessions() as session:
        assert service.switches_on(session) == [] and service.list_actions(session) == []


@pytest.mark.parametrize("csrf", [None, "", "wrong"])
def test_a_post_without_its_csrf_token_is_refused(
    dashboard: TestClient, sessions: sessionmaker[Session], csrf: str | None
) -> None:
    assert _login(dashboard, FULL) == 303
    data = {} if csrf is None else {"csrf": csrf}
    answer = dashboard.post("/dashboard/actions/pause", data=data)
    assert answer.status_code == 403 and "CSRF" in answer.text
    htmx = dashboard.post(
        "/dashboard/actions/pause", headers={"X-CSRF-Token": csrf or "", "HX-Request": "true"}
    )
    assert htmx.status_code == 403 and "CSRF" in htmx.json()["message"]
    with sessions() as session:
        assert service.switches_on(session) == []


def test_the_csrf_header_is_accepted_as_htmx_sends_it(dashboard: TestClient) -> None:
    assert _login(dashboard, FULL) == 303
    answer = dashboard.post("/dashboard/actions/pause", headers={"X-CSRF-Token": _csrf(dashboard)})
    assert answer.status_code == 200 and "Resume all publishing" in answer.text


def test_logout_ends_the_session(dashboard: TestClient) -> None:
    assert _login(dashboard, FULL) == 303
    assert dashboard.post("/dashboard/logout", data={}).status_code == 403  # CSRF first
    answer = dashboard.post(
        "/dashboard/logout", data={"csrf": _csrf(dashboard)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert dashboard.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_session_ends_when_its_key_is_removed(
    settings: Settings, sessions: sessionmaker[Session], dashboard: TestClient
) -> None:
    assert _login(dashboard, FULL) == 303
    cookie = dashboard.cookies.get("publisher_dashboard")
    assert cookie
    other = dataclasses.replace(settings, api_keys=("another-key",))
    with TestClient(create_app(other, sessions=sessions)) as client:
        client.cookies.set("publisher_dashboard", cookie, path="/dashboard")
        assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_no_secret_is_rendered(dashboard: TestClient, sessions: sessionmaker[Session]) -> None:
    settings = dashboard.app.state.context.settings  # type: ignore[attr-defined]
    with sessions.begin() as session:
        account = service.create_account(session, "Acme")
        cred = service.add_credential(
            session, token_box(settings), account.id, "mastodon", "https://m.example", SECRET_TOKEN
        )
        control.set_credential_paused(session, cred.id, True, utcnow(), by="ops")
    assert _login(dashboard, FULL) == 303
    for path in ("/dashboard", "/dashboard/audit", "/dashboard/fragments/counts"):
        answer = dashboard.get(path)
        assert SECRET_TOKEN not in answer.text and FULL not in answer.text
        assert READONLY not in answer.text
        # No inline script may run, the page may not be framed, nothing is cached
        assert "script-src 'self';" in answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cache-Control"] == "no-store"


def test_the_audit_pages_newest_first(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        for n in range(53):
            service.record_action(session, "key:x", f"action-{n}", utcnow(), posts=n)
    assert _login(dashboard, FULL) == 303
    first = dashboard.get("/dashboard/audit").text
    assert "action-52" in first and "action-3<" in first and "action-2<" not in first
    older = re.search(r'href="/dashboard/audit\?before=(\d+)"', first)
    assert older
    second = dashboard.get(f"/dashboard/audit?before={older.group(1)}").text
    assert "action-2<" in second and "action-0<" in second and "action-3<" not in second
    assert "before=" not in second
    assert dashboard.get("/dashboard/audit?before=0").status_code == 422


def test_the_counts_fragment_counts_unfinished_posts(
    dashboard: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        account = service.create_account(session, "Acme")
        settings = dashboard.app.state.context.settings  # type: ignore[attr-defined]
        cred = service.add_credential(
            session, token_box(settings), account.id, "webhook", "https://h.example/x", "t"
        )
        for _ in range(3):
            service.create_post(session, account.id, cred.id, "hello")
    assert _login(dashboard, FULL) == 303
    fragment = dashboard.get("/dashboard/fragments/counts", headers={"HX-Request": "true"})
    assert re.search(r'data-state="draft">3<', fragment.text)
    assert 'hx-trigger="every 5s"' in fragment.text


def test_without_any_key_loopback_logs_in_without_one(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    open_settings = dataclasses.replace(settings, api_keys=())
    with TestClient(create_app(open_settings, sessions=sessions)) as client:
        assert _login(client, "") == 303
        assert "loopback" in client.get("/dashboard").text


def test_the_audit_refuses_bad_rows(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for who, action, posts, field in [
            ("", "pause", 0, "who"),
            ("k" * 65, "pause", 0, "who"),
            ("key:x", "", 0, "action"),
            ("key:x", "pause", -1, "posts"),
        ]:
            with pytest.raises(InvalidInput) as refused:
                service.record_action(session, who, action, utcnow(), posts=posts)
            assert refused.value.field == field
        with pytest.raises(InvalidInput):
            service.list_actions(session, limit=0)
        assert service.list_actions(session) == []
