"""Destinations at call time: the engine connects only where the resolved address is
allowed, whatever the URL's host resolved to when it was stored (DNS rebinding). A real
HTTP server (the sandbox) on 127.0.0.1 plays the forbidden private destination."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from publisher.core.models import Credential
from publisher.engine.exchange import new_session, perform
from publisher.providers.base import PreparedCall
from publisher.sandbox import Sandbox
from tests.support.pipeline import Pipeline
from tests.support.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def _hook(url: str) -> PreparedCall:
    return PreparedCall("POST", url, {"Idempotency-Key": "k-destinations"}, json={"text": "t"})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # an address, and a name
def test_a_private_destination_is_not_called_unless_allowed(sandbox: Sandbox, host: str) -> None:
    url = sandbox.url.replace("127.0.0.1", host) + "/hooks/destinations"
    with new_session() as http:
        refused = perform(http, _hook(url), (1.0, 1.0), allow_private=False)
        assert sandbox.calls == []  # not a byte reached the server
        allowed = perform(http, _hook(url), (1.0, 1.0), allow_private=True)
    assert refused.forbidden and refused.status is None and not refused.ambiguous
    assert refused.error is not None and "resolves to" in refused.error
    assert "loopback or private" in refused.error
    assert allowed.status is not None and 200 <= allowed.status < 300 and not allowed.forbidden
    assert len(sandbox.calls) == 1


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with RedisServer() as redis_server:
        running = Pipeline(
            tmp_path,
            database_url,
            redis_server.url,
            sandbox,
            PUBLISHER_ALLOW_PRIVATE_URLS="false",
            PUBLISHER_NOTIFY_URL="",
        )
        running.start_worker(concurrency=1)
        running.start_beat()
        try:
            yield running
        finally:
            running.stop()


def test_a_host_that_now_resolves_to_a_private_address_cancels_the_post(
    pipeline: Pipeline,
) -> None:
    # Given a credential whose host was public when stored, and now resolves to 127.0.0.1
    account = pipeline.account()
    credential = pipeline.credential(account, "webhook", token="tok-rebinding")
    rebound = pipeline.sandbox.url.replace("127.0.0.1", "localhost") + "/hooks/rebound"
    with pipeline.sessions.begin() as session:
        session.execute(
            update(Credential).where(Credential.id == credential).values(base_url=rebound)
        )
    # When its post comes due
    post_id = pipeline.post(account, credential, "rebound")
    # Then nothing is sent, and the post ends with a clear error (no retry, no crash)
    post = pipeline.wait_final([post_id])[post_id]
    assert post.state == "cancelled" and post.last_error_category == "forbidden", post
    assert post.attempts == 1
    assert "resolves to 127.0.0.1" in (post.last_error_message or "")
    assert [c for c in pipeline.sandbox.calls if c.path.startswith("/hooks")] == []
    assert pipeline.sandbox.sentry_events == [], pipeline.sandbox.sentry_events
    [call] = pipeline.calls(post_id)
    assert call.category == "forbidden" and call.status_code is None
    assert [n.kind for n in pipeline.notifications(post_id)] == ["forbidden"]
