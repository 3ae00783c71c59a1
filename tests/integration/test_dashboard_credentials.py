"""The credentials and accounts pages over HTTP (in process, both databases): unknown ids
and bad filters answer pages naming them, read-only sessions and forms without their CSRF
token change nothing, each action does what the HTTP API's does and is audited with it,
a re-approval needs its confirmed count, and no token ever appears in a page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import control, service
from publisher.core.models import Credential, DashboardAction, Post, utcnow
from publisher.core.settings import Settings
from publisher.core.tokens import token_box
from tests.support.browser import FULL, READONLY
from tests.support.dashboard_http import csrf_in, login_answer

pytestmark = pytest.mark.integration

TOKEN = "tok-only-the-provider-may-see-9f3c"
REFRESH = "refresh-never-shown-77aa"


def _login(client: TestClient, key: str) -> int:
    return login_answer(client, key).status_code


def _csrf(client: TestClient, path: str = "/dashboard/credentials") -> str:
    return csrf_in(client.get(path).text)


def _credential(sessions: sessionmaker[Session], settings: Settings, posts: int = 0) -> int:
    """A Mastodon credential with a known token and refresh token, and ``posts`` posts
    cancelled when that token was refused (the credential valid again since)."""
    with sessions.begin() as session:
        account = service.create_account(session, "Acme")
        credential = service.add_credential(
            session,
            token_box(settings),
            account.id,
            "mastodon",
            "https://m.example",
            TOKEN,
            oauth_fields=service.OAuthFields(refresh_token=REFRESH, client_id="c"),
        )
        for i in range(posts):
            post = service.create_post(session, account.id, credential.id, f"p{i}")
            session.execute(
                update(Post)
                .where(Post.id == post.id)
                .values(state="cancelled", cancel_reason="unauthorized", scheduled_at=utcnow())
            )
        return credential.id


def _actions(sessions: sessionmaker[Session]) -> list[tuple[str, int, dict[str, object]]]:
    with sessions() as session:
        rows = session.scalars(select(DashboardAction).order_by(DashboardAction.id))
        return [(row.action, row.posts, row.detail) for row in rows]


def test_pages_show_health_and_never_a_token(
    dashboard: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    # Given a credential with a known token, invalid since a refusal cancelled 2 posts
    credential_id = _credential(sessions, settings, posts=2)
    with sessions.begin() as session:
        row = session.get(Credential, credential_id)
        assert row is not None
        row.invalid_since = utcnow()
        account_id = row.account_id
    assert _login(dashboard, FULL) == 303
    # When every page that shows it is read
    for path in (
        "/dashboard/credentials",
        "/dashboard/credentials?provider=mastodon&problem=invalid",
        f"/dashboard/credentials/{credential_id}",
        f"/dashboard/accounts/{account_id}",
    ):
        answer = dashboard.get(path)
        # Then each shows it, and neither the token nor the refresh token appears
        assert answer.status_code == 200, (path, answer.text)
        assert f"/dashboard/credentials/{credential_id}" in answer.text
        assert TOKEN not in answer.text and REFRESH not in answer.text
        assert answer.headers["Cache-Control"] == "no-store"
    detail = dashboard.get(f"/dashboard/credentials/{credential_id}").text
    assert (
        'id="invalid-since"' in detail and f"/dashboard/posts?credential={credential_id}" in detail
    )
    assert "Re-approve" not in detail  # not offered while the token is still refused
    empty = dashboard.get("/dashboard/credentials?problem=held")
    assert "No credential matches." in empty.text


@pytest.mark.parametrize(
    ("path", "status", "named"),
    [
        ("/dashboard/credentials/999", 404, "credential 999 not found"),
        ("/dashboard/credentials/abc", 404, "credential 'abc' not found"),
        ("/dashboard/credentials/²", 404, "credential '²' not found"),  # a digit to isdigit()
        ("/dashboard/credentials/99999999999999999999", 404, "not found"),
        ("/dashboard/credentials/999/reapprove", 404, "credential_id 999 not found"),
        ("/dashboard/accounts/999", 404, "account 999 not found"),
        ("/dashboard/accounts/-1", 404, "account '-1' not found"),
        ("/dashboard/credentials?provider=myspace", 422, "unknown provider"),
        ("/dashboard/credentials?problem=sad", 422, "unknown problem"),
        ("/dashboard/credentials?after=x", 422, "after 'x'"),
        ("/dashboard/credentials?after=²", 422, "after '²'"),
        ("/dashboard/credentials?after=99999999999999999999", 422, "page's start"),
    ],
)
def test_unknown_ids_and_bad_filters_answer_a_page_naming_them(
    dashboard: TestClient, path: str, status: int, named: str
) -> None:
    assert _login(dashboard, FULL) == 303
    answer = dashboard.get(path)
    assert answer.status_code == status and "text/html" in answer.headers["content-type"]
    assert named.replace("'", "&#39;") in answer.text, answer.text


def test_each_action_does_what_the_api_does_and_is_audited(
    dashboard: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    credential_id = _credential(sessions, settings)
    with sessions() as session:
        account_id = service.get_credential(session, credential_id).account_id
    assert _login(dashboard, FULL) == 303
    csrf = {"csrf": _csrf(dashboard)}
    for path in (
        f"/dashboard/credentials/{credential_id}/pause",
        f"/dashboard/accounts/{account_id}/pause",
        "/dashboard/providers/x/pause",
    ):
        answer = dashboard.post(path, data=csrf, follow_redirects=False)
        assert answer.status_code == 303, answer.text
    with sessions() as session:
        credential = service.get_credential(session, credential_id)
        assert credential.paused_at is not None and credential.paused_by
        assert service.get_account(session, account_id).paused
        assert control.pauses(session).providers == {"x"}
        who = credential.paused_by
    for path in (
        f"/dashboard/credentials/{credential_id}/resume",
        f"/dashboard/accounts/{account_id}/resume",
        "/dashboard/providers/x/resume",
    ):
        assert dashboard.post(path, data=csrf, follow_redirects=False).status_code == 303
    with sessions() as session:
        assert service.get_credential(session, credential_id).paused_at is None
        assert not service.get_account(session, account_id).paused
        assert control.pauses(session).providers == frozenset()
    assert _actions(sessions) == [
        ("pause_credential", 0, {"credential": credential_id}),
        ("pause_account", 0, {"account": account_id}),
        ("pause_provider", 0, {"provider": "x"}),
        ("resume_credential", 0, {"credential": credential_id}),
        ("resume_account", 0, {"account": account_id}),
        ("resume_provider", 0, {"provider": "x"}),
    ]
    with sessions() as session:
        assert {row.who for row in session.scalars(select(DashboardAction))} == {who}
    # An unknown target is a page naming it, and nothing is audited for it
    assert dashboard.post("/dashboard/providers/myspace/pause", data=csrf).status_code == 404
    assert dashboard.post("/dashboard/credentials/999/pause", data=csrf).status_code == 404
    assert len(_actions(sessions)) == 6


def test_resuming_a_credential_forgets_its_enqueued_posts_as_the_api_does(
    dashboard: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    # Given a paused credential with a due post whose message was dropped meanwhile
    credential_id = _credential(sessions, settings)
    with sessions.begin() as session:
        credential = service.get_credential(session, credential_id)
        post = service.create_post(session, credential.account_id, credential_id, "held")
        service.approve(session, post.id, utcnow())
        session.execute(update(Post).where(Post.id == post.id).values(enqueued_at=utcnow()))
        control.set_credential_paused(session, credential_id, True, utcnow())
    assert _login(dashboard, FULL) == 303
    # When it is resumed from the dashboard
    path = f"/dashboard/credentials/{credential_id}/resume"
    assert dashboard.post(path, data={"csrf": _csrf(dashboard)}).status_code == 200
    # Then the post is no longer marked enqueued: the next sweep sends it
    with sessions() as session:
        assert session.get(Post, post.id).enqueued_at is None  # type: ignore[union-attr]


def test_reapprove_needs_a_valid_credential_and_its_confirmed_count(
    dashboard: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    # Given a credential valid again with 3 posts cancelled as unauthorized
    credential_id = _credential(sessions, settings, posts=3)
    assert _login(dashboard, FULL) == 303
    page = dashboard.get(f"/dashboard/credentials/{credential_id}").text
    assert "Re-approve 3 posts cancelled as unauthorized" in page
    # The confirmation names the count
    confirm = dashboard.get(f"/dashboard/credentials/{credential_id}/reapprove")
    assert confirm.status_code == 200 and "<strong>3</strong> posts" in confirm.text
    csrf = _csrf(dashboard, f"/dashboard/credentials/{credential_id}/reapprove")
    path = f"/dashboard/credentials/{credential_id}/reapprove"
    # When it is posted without the count, or with a stale one, nothing moves
    for count in ("", "2"):
        answer = dashboard.post(path, data={"csrf": csrf, "count": count})
        assert answer.status_code == 409 and "it is now 3" in answer.text
    assert _actions(sessions) == []
    # When the confirmed count is posted, the three are approved, audited as three
    answer = dashboard.post(path, data={"csrf": csrf, "count": "3"}, follow_redirects=False)
    assert answer.status_code == 303
    with sessions() as session:
        states = session.scalars(select(Post.state).where(Post.credential_id == credential_id))
        assert sorted(states) == ["approved"] * 3
    assert _actions(sessions) == [("reapprove", 3, {"credential": credential_id})]
    # And then there is nothing left to re-approve
    again = dashboard.get(f"/dashboard/credentials/{credential_id}/reapprove")
    assert again.status_code == 409 and "waits for re-approval" in again.text


def test_reapprove_is_refused_while_the_token_is_still_refused(
    dashboard: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    credential_id = _credential(sessions, settings, posts=1)
    with sessions.begin() as session:
        session.execute(
            update(Credential).where(Credential.id == credential_id).values(invalid_since=utcnow())
        )
    assert _login(dashboard, FULL) == 303
    csrf = _csrf(dashboard)
    path = f"/dashboard/credentials/{credential_id}/reapprove"
    answer = dashboard.post(path, data={"csrf": csrf, "count": "1"})
    assert answer.status_code == 409 and "replace its token first" in answer.text
    with sessions() as session:
        assert session.scalars(select(Post.state)).all() == ["cancelled"]
    assert _actions(sessions) == []


@pytest.mark.parametrize(
    "action",
    [
        "credentials/{c}/pause",
        "accounts/{a}/pause",
        "providers/x/pause",
        "credentials/{c}/reapprove",
    ],
)
def test_readonly_and_csrf_less_posts_change_nothing(
    dashboard: TestClient, sessions: sessionmaker[Session], settings: Settings, action: str
) -> None:
    credential_id = _credential(sessions, settings, posts=1)
    with sessions() as session:
        account_id = service.get_credential(session, credential_id).account_id
    path = "/dashboard/" + action.format(c=credential_id, a=account_id)
    # A full key without the CSRF token, or with a forged one
    assert _login(dashboard, FULL) == 303
    assert dashboard.post(path, data={"count": "1"}).status_code == 403
    forged = dashboard.post(path, data={"csrf": "forged", "count": "1"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    # A read-only key with its own valid token: no button shown, the POST refused
    dashboard.cookies.clear()
    assert _login(dashboard, READONLY) == 303
    page = dashboard.get(f"/dashboard/credentials/{credential_id}").text
    assert "Pause this credential" not in page and "Re-approve" not in page
    csrf = _csrf(dashboard, f"/dashboard/credentials/{credential_id}")
    answer = dashboard.post(path, data={"csrf": csrf, "count": "1"})
    assert answer.status_code == 403 and "read-only" in answer.text
    # Nothing changed, nothing audited
    with sessions() as session:
        assert service.get_credential(session, credential_id).paused_at is None
        assert not service.get_account(session, account_id).paused
        assert control.pauses(session).providers == frozenset()
        assert session.scalars(select(Post.state)).all() == ["cancelled"]
    assert _actions(sessions) == []


def test_pages_are_bounded(
    dashboard: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """The list pages by id (keyset): the next page's link starts after the last row."""
    first = _credential(sessions, settings)
    with sessions.begin() as session:
        credential = service.get_credential(session, first)
        for _ in range(50):
            service.add_credential(
                session, token_box(settings), credential.account_id, "x", "https://x.example", "t"
            )
    assert _login(dashboard, FULL) == 303
    page = dashboard.get("/dashboard/credentials").text
    assert f"after={first + 49}" in page
    rest = dashboard.get(f"/dashboard/credentials?after={first + 49}").text
    assert f'/dashboard/credentials/{first + 50}"' in rest and "Next credentials" not in rest
    assert timedelta(seconds=settings.reapprove_window) > timedelta(0)
