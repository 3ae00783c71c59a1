"""The sandbox's LinkedIn against publisher's own LinkedIn requests: a post created and
found by the author finder, an image registered, uploaded and available, the version
header required (426 for a retired one), and a 429 without Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from publisher.providers.base import MediaFile, PreparedCall, PublishRequest
from publisher.providers.linkedin import LinkedInProvider
from publisher.providers.linkedin_media import UPLOADER
from publisher.sandbox import Sandbox
from publisher.sandbox.linkedin import RETIRED_VERSION, unescape

LINKEDIN = LinkedInProvider()
TOKEN = "tok-li"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(strict=["linkedin"]) as running:
        yield running


def base(sandbox: Sandbox) -> str:
    return f"{sandbox.url}#urn:li:person:t"


def send(call: PreparedCall, **changes: Any) -> requests.Response:
    headers = {**call.headers, **changes}
    return requests.request(
        call.method, call.url, headers=headers, json=call.json, data=call.data, timeout=5
    )


def publish(sandbox: Sandbox, text: str, media_ids: tuple[str, ...] = ()) -> PublishRequest:
    return PublishRequest(base(sandbox), TOKEN, text, {}, "k", media_ids=media_ids)


def test_a_post_is_created_and_found_by_the_finder(sandbox: Sandbox) -> None:
    request = publish(sandbox, "Hi (there) #tag")
    answer = send(LINKEDIN.prepare(request))
    assert answer.status_code == 201
    created = LINKEDIN.parse_created(201, answer.headers, None)
    assert created is not None and created.external_id.startswith("urn:li:share:")
    assert sandbox.creates_by_text(kind="linkedin") == {"Hi (there) #tag": 1}

    def get_json(url: str, headers: Any) -> Any:
        return requests.get(url, headers=headers, timeout=5).json()

    since = datetime.now(UTC) - timedelta(seconds=5)
    assert LINKEDIN.lookup(get_json, request, since) == [created]


def test_an_image_is_registered_uploaded_and_available(sandbox: Sandbox) -> None:
    file = MediaFile(b"\x89PNG-bytes", "image/png", "a.png", "image", None)
    started = UPLOADER.parse_upload(
        200, send(UPLOADER.prepare_upload(base(sandbox), TOKEN, file)).json()
    )
    assert started is not None
    put, status = UPLOADER.continue_upload(base(sandbox), TOKEN, file, started.media_id)
    assert send(put).status_code == 201
    ready = UPLOADER.parse_upload(200, send(status).json())
    assert ready is not None and ready.ready
    answer = send(LINKEDIN.prepare(publish(sandbox, "with an image", (ready.media_id,))))
    assert answer.status_code == 201
    (record,) = sandbox.creates
    assert [m.size for m in record.media] == [len(file.content)]


@pytest.mark.parametrize(("version", "status"), [("", 400), (RETIRED_VERSION, 426)])
def test_the_version_header_is_required_and_current(
    sandbox: Sandbox, version: str, status: int
) -> None:
    answer = send(LINKEDIN.prepare(publish(sandbox, "versioned")), **{"LinkedIn-Version": version})
    assert answer.status_code == status
    assert sandbox.creates == []


def test_a_429_names_no_time(sandbox: Sandbox) -> None:
    answer = send(LINKEDIN.prepare(publish(sandbox, "[[fault:429]] throttled")))
    assert answer.status_code == 429
    assert "Retry-After" not in answer.headers


def test_unescape_undoes_little_text() -> None:
    assert unescape(r"a \(b\) \#c \\ d") == "a (b) #c \\ d"
