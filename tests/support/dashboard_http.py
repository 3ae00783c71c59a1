"""The dashboard over HTTP in process (``TestClient``): logging in through the form as a
browser does, and reading the CSRF token a page carries."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response

_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login_answer(client: TestClient, key: str) -> Response:
    """The answer to a login with ``key`` through the login form (not followed)."""
    form = client.get("/dashboard/login")
    token = _LOGIN_TOKEN.search(form.text)
    assert token, form.text
    return client.post(
        "/dashboard/login",
        data={"key": key, "login_token": token.group(1)},
        follow_redirects=False,
    )


def csrf_in(html: str) -> str:
    """The session's CSRF token in a page's forms."""
    found = _CSRF.search(html)
    assert found, html
    return found.group(1)
