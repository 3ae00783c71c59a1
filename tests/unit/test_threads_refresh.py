"""Threads (Meta) token refresh: the request and what each answer means, one row each."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.providers.oauth2 import Grant, Refreshed, Rejected, Transient, default_token_url
from publisher.providers.refreshers import CLIENTLESS, REFRESHERS
from publisher.providers.threads_refresh import REFRESH

GRANT = Grant(token_url="https://graph.threads.example/refresh_access_token", refresh_token="T/1")


def test_registered_clientless_with_metas_default_url() -> None:
    assert REFRESHERS["threads"] is REFRESH
    assert "threads" in CLIENTLESS
    assert default_token_url("threads", "https://graph.threads.net/v1.0") == (
        "https://graph.threads.net/refresh_access_token"
    )


def test_the_request_is_a_get_carrying_the_token_itself() -> None:
    call = REFRESH.prepare(GRANT)
    assert call.method == "GET"
    assert call.url == (
        "https://graph.threads.example/refresh_access_token"
        "?grant_type=th_refresh_token&access_token=T%2F1"
    )


def graph(code: int, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"error {code}", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, {"access_token": "T2", "token_type": "bearer", "expires_in": 5183944}, Refreshed),
        (200, {"token_type": "bearer"}, Transient),  # no token: ask again later
        (400, graph(190, 463), Rejected),  # expired
        (400, graph(190, 460), Rejected),  # password changed
        (403, graph(10), Rejected),  # permission
        (403, graph(200), Rejected),  # permission (200-299)
        (500, graph(1), Transient),  # unknown
        (503, graph(2), Transient),  # down
        (400, graph(4), Transient),  # throttled
        (None, None, Transient),  # no answer
    ],
)
def test_answers(status: int | None, body: Any, kind: type) -> None:
    assert isinstance(REFRESH.read(status, body, "timeout"), kind)


def test_a_new_token_is_both_the_access_and_the_refresh_token() -> None:
    body = {"access_token": "T2", "token_type": "bearer", "expires_in": 5183944}
    assert REFRESH.read(200, body) == Refreshed("T2", "T2", 5183944.0)
