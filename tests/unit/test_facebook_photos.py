"""Facebook Pages photos and Graph's usage headers, as pure logic: the unpublished upload,
the feed create naming the photos, the lookup matching a photo post by its photo id, the
media rule, and the usage headers read into a hold (``usage_headers``, ``classify``,
``plan``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.engine import usage_headers
from publisher.engine.backoff import earliest_from_headers, near_limit_from_headers
from publisher.engine.classify import classify
from publisher.engine.exchange import Exchange
from publisher.engine.plan import Action, after_call
from publisher.errors import LookupFailed
from publisher.providers.base import Category, MediaFile, PreparedCall, PublishRequest
from publisher.providers.facebook import LOOKUP_FIELDS, FacebookProvider
from publisher.providers.facebook_media import MAX_IMAGE_BYTES, MAX_PHOTOS, UPLOADER
from publisher.providers.media_rule import Kind
from publisher.sandbox.multipart import parse
from tests.unit.test_plan import JOB, POLICY

FACEBOOK = FacebookProvider()
ROOT = "https://graph.example/v24.0"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
SINCE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PHOTO = MediaFile(b"\x89PNG-bytes", "image/png", "cat.png", "image", "A cat")


def publish_request(text: str = "Two cats", media_ids: tuple[str, ...] = ()) -> PublishRequest:
    return PublishRequest(
        base_url=ROOT, token="page-token", text=text, options={}, idempotency_key="k",
        media_ids=media_ids,
    )  # fmt: skip


# --- the upload and the create ----------------------------------------------------------


def test_upload_sends_the_bytes_unpublished_with_the_alt_text() -> None:
    call = UPLOADER.prepare_upload(ROOT, "page-token", PHOTO)
    assert (call.method, call.url) == ("POST", f"{ROOT}/me/photos")
    assert call.headers["Authorization"] == "Bearer page-token"
    assert call.data is not None
    form = parse(call.headers["Content-Type"], call.data)
    assert form["source"].content == PHOTO.content
    assert (form["source"].filename, form["source"].content_type) == ("cat.png", "image/png")
    assert (form["published"].text, form["alt_text_custom"].text) == ("false", "A cat")
    assert "page-token" not in call.url


def test_upload_without_alt_text_sends_none() -> None:
    call = UPLOADER.prepare_upload(ROOT, "t", MediaFile(b"x", "image/jpeg", "a.jpg", "image", None))
    assert call.data is not None
    assert "alt_text_custom" not in parse(call.headers["Content-Type"], call.data)


@pytest.mark.parametrize(
    ("status", "body", "media_id"),
    [
        (200, {"id": "555"}, "555"),
        (200, {"id": 555}, "555"),
        (200, {"id": ""}, None),
        (200, {"success": True}, None),
        (200, "junk", None),
        (400, {"id": "555"}, None),
    ],
)
def test_parse_upload_reads_the_photo_id_ready_at_once(
    status: int, body: Any, media_id: str | None
) -> None:
    answer = UPLOADER.parse_upload(status, body)
    assert (answer.media_id if answer else None) == media_id
    assert answer is None or answer.ready
    assert UPLOADER.continue_upload(ROOT, "t", PHOTO, "555") == ()
    assert not UPLOADER.describes("image")


def test_create_attaches_the_uploaded_photos_in_order() -> None:
    call = FACEBOOK.prepare(publish_request(media_ids=("11", "12")))
    assert call.url == f"{ROOT}/me/feed"
    assert call.json == {
        "message": "Two cats",
        "attached_media": [{"media_fbid": "11"}, {"media_fbid": "12"}],
    }
    assert "attached_media" not in FACEBOOK.prepare(publish_request()).json


def test_media_rule_takes_still_images_up_to_the_documented_size() -> None:
    rule = FACEBOOK.media_rule
    assert FACEBOOK.uploader is UPLOADER
    assert rule.kinds == {Kind.IMAGE}  # a GIF would be shown frozen; no video yet
    assert rule.max_bytes[Kind.IMAGE] == MAX_IMAGE_BYTES == 4 * 1024 * 1024
    assert rule.refusal([Kind.IMAGE] * MAX_PHOTOS) is None
    assert rule.refusal([Kind.IMAGE] * (MAX_PHOTOS + 1)) == "has 11 items; at most 10 allowed"


# --- the lookup of a photo post -----------------------------------------------------------

FIRST = f"{ROOT}/me/posts?fields={LOOKUP_FIELDS}&limit=100&since={int(SINCE.timestamp()) - 300}"


def photo_post(post_id: str, message: str | None, *photos: str) -> dict[str, Any]:
    post: dict[str, Any] = {"id": post_id, "created_time": "2024-05-01T12:01:00+0000"}
    if message is not None:
        post["message"] = message
    if len(photos) == 1:
        post["attachments"] = {"data": [{"type": "photo", "target": {"id": photos[0]}}]}
    elif photos:
        subs = [{"type": "photo", "target": {"id": p}} for p in photos]
        album = {"type": "album", "target": {"id": "album"}, "subattachments": {"data": subs}}
        post["attachments"] = {"data": [album]}
    return post


def lookup(posts: list[dict[str, Any]], request: PublishRequest) -> list[str]:
    def get_json(url: str, headers: Mapping[str, str]) -> Any:
        assert url == FIRST
        return {"data": posts}

    return [found.external_id for found in FACEBOOK.lookup(get_json, request, SINCE)]


def test_lookup_takes_the_post_attaching_our_first_photo() -> None:
    posts = [
        photo_post("1_4", "Two cats", "21", "22"),  # the same text, another post's photos
        photo_post("1_3", "Two cats", "11", "12"),  # ours
        photo_post("1_2", "Two dogs", "11"),
    ]
    assert lookup(posts, publish_request(media_ids=("11", "12"))) == ["1_3"]
    assert lookup(posts, publish_request(media_ids=("31",))) == []


def test_lookup_of_a_photo_post_without_text() -> None:
    posts = [photo_post("1_5", None, "41"), photo_post("1_6", "words", "42")]
    assert lookup(posts, publish_request("", media_ids=("41",))) == ["1_5"]


def test_lookup_cannot_tell_when_a_post_with_our_text_shows_no_attachments() -> None:
    with pytest.raises(LookupFailed):
        lookup([photo_post("1_7", "Two cats")], publish_request(media_ids=("11",)))


# --- Graph's usage headers -------------------------------------------------------------


def buc(**usage: int) -> dict[str, str]:
    entry = {"type": "pages", "call_count": 1, "total_cputime": 1, "total_time": 1, **usage}
    return {"X-Business-Use-Case-Usage": json.dumps({"1000": [entry]})}


def app(call_count: int) -> dict[str, str]:
    usage = {"call_count": call_count, "total_cputime": 5, "total_time": 5}
    return {"X-App-Usage": json.dumps(usage)}


MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({}, None),
        (app(20), None),  # plenty left
        (app(94), None),
        (app(95), usage_headers.NEAR_FULL_WAIT),  # near the limit: slow down
        (app(100), usage_headers.NEAR_FULL_WAIT),
        ({"x-page-usage": '{"call_count": 3, "total_cputime": 97, "total_time": 4}'}, MINUTE),
        (buc(estimated_time_to_regain_access=0), None),
        (buc(call_count=99, estimated_time_to_regain_access=0), usage_headers.NEAR_FULL_WAIT),
        (buc(call_count=100, estimated_time_to_regain_access=19), 19 * MINUTE),  # Graph's time
        ({**app(100), **buc(estimated_time_to_regain_access=30)}, 30 * MINUTE),  # the latest
        ({"X-App-Usage": "{not json"}, None),
        ({"X-App-Usage": '{"call_count": "100"}'}, None),
        ({"X-App-Usage": '{"call_count": true}'}, None),
        ({"X-Business-Use-Case-Usage": '{"1": "junk"}'}, None),
        ({"X-Business-Use-Case-Usage": "[1, 2]"}, None),
    ],
)
def test_usage_headers_become_a_not_before(headers: dict[str, str], wait: timedelta | None) -> None:
    expected = None if wait is None else NOW + wait
    assert earliest_from_headers(headers, NOW) == expected


def test_the_cap_bounds_graphs_estimate() -> None:
    assert earliest_from_headers(buc(estimated_time_to_regain_access=600), NOW, 60.0) == (
        NOW + timedelta(seconds=60)
    )


def graph_exchange(status: int, body: Any, headers: dict[str, str]) -> Exchange:
    call = PreparedCall("POST", f"{ROOT}/me/feed", {})
    raw = json.dumps(body).encode()
    return Exchange(call, None, status=status, headers=headers, body=raw)


def test_a_throttled_answer_waits_graphs_estimate_and_holds_the_credential() -> None:
    throttled = {"error": {"message": "Page request limit reached", "code": 32}}
    headers = buc(call_count=100, estimated_time_to_regain_access=19)
    outcome = classify(FACEBOOK, graph_exchange(400, throttled, headers), NOW)
    assert (outcome.category, outcome.rate_limited) == (Category.UNAVAILABLE, True)
    assert outcome.not_before == NOW + 19 * MINUTE
    decided = after_call(JOB, outcome, NOW, POLICY)
    assert decided.next_run_at == decided.hold_credential_until == NOW + 19 * MINUTE


def test_a_success_near_the_limit_holds_the_credential() -> None:
    outcome = classify(FACEBOOK, graph_exchange(200, {"id": "1_2"}, app(98)), NOW)
    assert (outcome.category, outcome.rate_limited) == (Category.SUCCESS, True)
    decided = after_call(JOB, outcome, NOW, POLICY)
    assert decided.action is Action.SUCCEED
    assert decided.hold_credential_until == NOW + usage_headers.NEAR_FULL_WAIT


def test_after_a_success_only_usage_headers_slow_down() -> None:
    # X and Mastodon send a reset on every answer; their next call's 429 holds anyway
    spent = {"x-rate-limit-reset": str(int(NOW.timestamp()) + 600), "x-rate-limit-remaining": "0"}
    assert near_limit_from_headers(spent, NOW) is None
    assert near_limit_from_headers({**spent, **app(96)}, NOW) == NOW + MINUTE


def test_a_success_with_room_left_holds_nothing() -> None:
    outcome = classify(FACEBOOK, graph_exchange(200, {"id": "1_2"}, app(40)), NOW)
    assert not outcome.rate_limited
    assert after_call(JOB, outcome, NOW, POLICY).hold_credential_until is None
