"""Bluesky images: the uploadBlob request and its answer as a media id, the record's
images embed, and the sandbox PDS taking both (strict: a blob ref it never issued, or
one that disagrees with the upload, refuses the record; helpful: it is left out)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from publisher.providers.base import MediaFile, PreparedCall, PublishRequest
from publisher.providers.bluesky import BlueskyProvider
from publisher.providers.bluesky_media import UPLOADER, blob, blob_ref, images_embed
from publisher.sandbox.faults import FaultPlan
from publisher.sandbox.server import dispatch
from publisher.sandbox.state import State
from publisher.sandbox.wire import Request, Response
from tests.support.media_files import PNG, sized
from tests.unit.test_bluesky import DID, jwt

BASE = "http://pds.test"
TOKEN = jwt({"sub": DID, "iat": time.time(), "exp": time.time() + 3600})
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def _ask(state: State, call: PreparedCall) -> tuple[Response, Any]:
    body = call.data if call.data is not None else json.dumps(call.json).encode()
    headers = {"Content-Type": "application/json", **call.headers}
    request = Request(call.method, call.url.removeprefix(BASE), {}, headers, body, BASE)
    response = dispatch(state, request)
    return response, json.loads(response.body)


def _upload(state: State, content: bytes) -> str:
    file = MediaFile(content, "image/png", "f.png", "image", "alt")
    response, body = _ask(state, UPLOADER.prepare_upload(BASE, TOKEN, file))
    assert response.status == 200, body
    uploaded = UPLOADER.parse_upload(200, body)
    assert uploaded is not None and uploaded.ready
    return uploaded.media_id


def _create(state: State, media_ids: list[str], alts: list[str | None]) -> tuple[Response, Any]:
    request = PublishRequest(
        BASE,
        TOKEN,
        "with images",
        {},
        "key-1",
        media_ids=media_ids,
        media=[{"id": i, "type": "image", "alt": alt} for i, alt in enumerate(alts)],
    )
    return _ask(state, BlueskyProvider().prepare(request))


@pytest.fixture
def state() -> State:
    return State(faults=FaultPlan())


def test_an_upload_answer_is_a_media_id_carrying_the_blob_ref() -> None:
    answer = {"blob": {"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 7}}
    media_id = blob_ref(answer["blob"])
    assert media_id == f"{CID} image/png 7"
    assert blob(media_id) == answer["blob"]


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"blob": {"ref": {"$link": CID}, "mimeType": "image/png"}},  # no size
        {"blob": {"ref": {"$link": CID}, "mimeType": "image/png", "size": True}},
        {"blob": {"ref": {"$link": "a b"}, "mimeType": "image/png", "size": 1}},
        {"blob": {"ref": CID, "mimeType": "image/png", "size": 1}},
    ],
)
def test_an_unusable_upload_answer_is_none(answer: dict[str, Any]) -> None:
    assert UPLOADER.parse_upload(200, answer) is None


def test_the_embed_takes_alt_texts_in_order_and_empty_when_none() -> None:
    embed = images_embed([f"{CID} image/png 1", f"{CID} image/jpeg 2"], [{"alt": "a"}, {}])
    assert embed is not None and embed["$type"] == "app.bsky.embed.images"
    assert [(i["alt"], i["image"]["mimeType"]) for i in embed["images"]] == [
        ("a", "image/png"),
        ("", "image/jpeg"),
    ]
    assert images_embed([], []) is None


@pytest.mark.parametrize("strict", [False, True])
def test_the_pds_takes_uploaded_blobs_in_a_post(state: State, strict: bool) -> None:
    state.strict = frozenset({"bluesky"} if strict else ())
    ids = [_upload(state, sized(PNG, 2000)), _upload(state, sized(PNG, 3000))]
    response, body = _create(state, ids, ["one", None])
    assert response.status == 200, body
    [created] = state.ledger.creates
    assert [m.size for m in created.media] == [2000, 3000]
    assert [i["alt"] for i in created.payload["value"]["embed"]["images"]] == ["one", ""]


@pytest.mark.parametrize(
    ("media_id", "strict", "status"),
    [
        (f"{CID} image/png 10", True, 400),  # never uploaded: Could not find blob
        (f"{CID} image/png 10", False, 200),  # helpful: left out
        (f"{CID} video/mp4 10", False, 400),  # not an image
        (f"{CID} image/png 1000001", False, 400),  # over 1,000,000 bytes
    ],
)
def test_the_pds_refuses_what_the_lexicon_refuses(
    state: State, media_id: str, strict: bool, status: int
) -> None:
    state.strict = frozenset({"bluesky"} if strict else ())
    response, body = _create(state, [media_id], ["alt"])
    assert response.status == status, body
    if status == 400:
        assert body["error"] == "InvalidRequest"
    else:
        assert state.ledger.creates[0].media == ()


def test_five_images_are_refused(state: State) -> None:
    ids = [_upload(state, sized(PNG, 100 + n)) for n in range(5)]
    response, body = _create(state, ids, ["a"] * 5)
    assert (response.status, body["error"]) == (400, "InvalidRequest")


def test_an_upload_needs_a_session(state: State) -> None:
    file = MediaFile(PNG, "image/png", "f.png", "image", None)
    call = UPLOADER.prepare_upload(BASE, "not-a-jwt", file)
    response, _ = _ask(state, call)
    assert response.status == 401
