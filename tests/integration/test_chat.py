"""Telegram and Discord through real workers against the strict sandbox: success, a
thread, each error class, a rate limit, and an ambiguous attempt.

Neither network takes an idempotency key or lets publisher read a post back, so after an
ambiguous attempt the post must end ``unconfirmed`` with the message sent once, never
sent again blind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.core import service
from publisher.core.models import Post
from publisher.sandbox import Sandbox
from tests.conftest import SQLITE_ONLY
from tests.support.pipeline import Pipeline, running_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240), SQLITE_ONLY]

PROVIDERS = ["telegram", "discord"]
# Where each provider's credential points: a chat, a webhook (its token is the credential's).
DESTINATIONS = {"telegram": "/@news", "discord": "/api/webhooks/123"}
# A destination that refuses every post for good: the bot was removed, the webhook's
# channel forbids it (``sandbox.telegram``, ``sandbox.discord``).
REFUSING = {"telegram": "/@kicked", "discord": "/api/webhooks/403"}
# Longer than the network takes: accepted by a credential whose limit is raised, then
# refused by the network itself (a 400: this message, not the credential, is wrong).
TOO_LONG = {"telegram": 4097, "discord": 2001}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=3.0, strict=True) as running:
        yield running


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, sandbox: Sandbox) -> Iterator[Pipeline]:
    with running_pipeline(tmp_path, database_url, sandbox) as running:
        yield running


def _post(
    pipeline: Pipeline,
    provider: str,
    text: Any,
    path: str = "",
    limit: int | None = None,
    **kw: Any,
) -> int:
    """An approved post to ``provider`` at ``path`` (default: its usual destination),
    through a credential whose text limit is ``limit`` (None: the network's)."""
    account = pipeline.account()
    base = pipeline.sandbox.url + (path or DESTINATIONS[provider])
    with pipeline.sessions.begin() as session:
        credential = service.add_credential(
            session, pipeline.box, account, provider, base, "123:tok", allow_private=True
        )
        if limit is not None:
            credential.max_text_length = limit
        credential_id = credential.id
    return pipeline.post(account, credential_id, text, **kw)


def _run(pipeline: Pipeline, post_id: int, timeout: float = 60.0) -> Post:
    pipeline.start_worker(concurrency=2)
    pipeline.start_beat()
    return pipeline.wait_final([post_id], timeout=timeout)[post_id]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_post_is_published_once(pipeline: Pipeline, provider: str) -> None:
    post_id = _post(pipeline, provider, f"hello {provider}")
    post = _run(pipeline, post_id)
    assert post.state == "done", post.last_error_message
    assert pipeline.sandbox.ids_for(f"hello {provider}") == [post.external_id]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_thread_is_published_in_order_once_each(pipeline: Pipeline, provider: str) -> None:
    texts = [f"{provider} thread {n}/3" for n in (1, 2, 3)]
    post_id = _post(pipeline, provider, None, parts=[{"text": t} for t in texts])
    post = _run(pipeline, post_id)
    assert post.state == "done", post.last_error_message
    created = [r for r in pipeline.sandbox.creates if r.text in texts]
    assert [r.text for r in created] == texts
    if provider == "telegram":  # each part replies to the one before
        sent = [c for c in pipeline.sandbox.calls if c.path.endswith("/sendMessage")]
        assert [b'"reply_parameters"' in c.body for c in sent] == [False, True, True]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refusing_destination_stops_the_credential(pipeline: Pipeline, provider: str) -> None:
    post_id = _post(pipeline, provider, "nobody hears this", REFUSING[provider])
    post = _run(pipeline, post_id)
    assert (post.state, post.cancel_reason) == ("cancelled", "unauthorized")
    with pipeline.sessions() as session:
        credential = service.get_credential(session, post.credential_id)
        assert credential.invalid_since is not None
    assert [n.kind for n in pipeline.notifications(post_id)] == ["reauthorize"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_bad_token_is_unauthorized(pipeline: Pipeline, provider: str) -> None:
    pipeline.sandbox.invalid_tokens.add("123:tok")
    post = _run(pipeline, _post(pipeline, provider, "wrong token"))
    assert (post.state, post.cancel_reason) == ("cancelled", "unauthorized")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_message_the_network_refuses_is_forbidden(pipeline: Pipeline, provider: str) -> None:
    text = "x" * TOO_LONG[provider]
    post_id = _post(pipeline, provider, text, limit=10_000)
    post = _run(pipeline, post_id)
    assert (post.state, post.cancel_reason) == ("cancelled", "forbidden")
    assert pipeline.sandbox.creates == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limit_waits_then_publishes_once(pipeline: Pipeline, provider: str) -> None:
    text = f"[[fault:429,429]] busy {provider}"
    post = _run(pipeline, _post(pipeline, provider, text))
    assert (post.state, post.attempts) == ("done", 3)
    assert len(pipeline.sandbox.ids_for(text)) == 1
    calls = [c for c in pipeline.calls(post.id) if c.method == "POST"]
    assert [c.status_code for c in calls] == [429, 429, 200]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["502_after", "reset_after", "slow", "503"])
def test_an_ambiguous_attempt_ends_unconfirmed_never_sent_twice(
    pipeline: Pipeline, provider: str, fault: str
) -> None:
    text = f"[[fault:{fault}]] maybe {provider}"
    post = _run(pipeline, _post(pipeline, provider, text))
    assert (post.state, post.last_error_category, post.ambiguous) == ("draft", "unconfirmed", True)
    assert post.attempts == 1
    # A 5xx may come from a gateway after the message was stored: publisher cannot tell a
    # 503 that stored nothing (as here) from one that did, so it does not send again.
    assert len(pipeline.sandbox.ids_for(text)) == (0 if fault == "503" else 1)
    assert [n.kind for n in pipeline.notifications(post.id)] == ["unconfirmed"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_ambiguous_part_stops_the_thread_unconfirmed(pipeline: Pipeline, provider: str) -> None:
    texts = [f"{provider} part 1/3", f"[[fault:502_after]] {provider} part 2/3", "part 3/3"]
    post = _run(pipeline, _post(pipeline, provider, None, parts=[{"text": t} for t in texts]))
    assert (post.state, post.last_error_category) == ("draft", "unconfirmed")
    assert [len(pipeline.sandbox.ids_for(text)) for text in texts] == [1, 1, 0]
