"""The sandbox behaves like the providers where the publisher depends on it, over real
HTTP: idempotency keys and X's duplicate 403 (helpful) or neither (strict), error formats,
lookups, scripted and random faults (ambiguous timeouts and resets included), the ledger's
exactly-once accessors, and the Sentry and notify receivers."""

from __future__ import annotations

import gzip
import html
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

import pytest
import requests

from publisher.sandbox import KINDS, STRICT_MIX, CreateRecord, Sandbox, x_timeline
from publisher.sandbox.faults import AFTER_STORE, parse_fault
from publisher.sandbox.x_text import render

# The kinds whose create is a plain POST with an optional Idempotency-Key. Bluesky's is
# createRecord under a record key, which names one record in either mode: its sandbox
# has its own tests (tests/unit/test_bluesky_sandbox.py).
# Bluesky, Facebook and Threads test their stand-ins in their own files (a chosen record
# key, no key, a container).
KEYED = [kind for kind in KINDS if kind not in ("bluesky", "facebook", "threads")]

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TOKEN = {"Authorization": "Bearer good-token"}
MASTODON_401 = {"error": "The access token is invalid"}
X_401 = {"title": "Unauthorized", "detail": "Unauthorized", "type": "about:blank", "status": 401}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(slow_seconds=1.0) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def toot(
    http: requests.Session, sandbox: Sandbox, text: str, key: str | None = None, **kw: Any
) -> requests.Response:
    headers = {**TOKEN, **({"Idempotency-Key": key} if key else {})}
    return http.post(f"{sandbox.url}/api/v1/statuses", data={"status": text}, headers=headers, **kw)


def tweet(http: requests.Session, sandbox: Sandbox, text: str, **kw: Any) -> requests.Response:
    return http.post(f"{sandbox.url}/2/tweets", json={"text": text}, headers=TOKEN, **kw)


def hook(
    http: requests.Session, sandbox: Sandbox, text: str, key: str | None = None, **kw: Any
) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return http.post(f"{sandbox.url}/hooks/alerts", json={"text": text}, headers=headers, **kw)


def li_post(http: requests.Session, sandbox: Sandbox, text: str, **kw: Any) -> requests.Response:
    """A LinkedIn Posts API create (escaping is publisher's business, not needed here)."""
    body = {
        "author": "urn:li:person:t",
        "commentary": text,
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED"},
        "lifecycleState": "PUBLISHED",
    }
    headers = {**TOKEN, "LinkedIn-Version": "202610"}
    return http.post(f"{sandbox.url}/rest/posts", json=body, headers=headers, **kw)


def create(
    http: requests.Session,
    sandbox: Sandbox,
    kind: str,
    text: str,
    key: str | None = None,
    **kw: Any,
) -> requests.Response:
    """One create at ``kind`` (X is sent no key: it honours none)."""
    if kind == "mastodon":
        return toot(http, sandbox, text, key=key, **kw)
    if kind == "x":
        return tweet(http, sandbox, text, **kw)
    if kind == "linkedin":  # LinkedIn honours no key either
        return li_post(http, sandbox, text, **kw)
    return hook(http, sandbox, text, key=key, **kw)


def created_id(answer: requests.Response) -> str:
    if "x-restli-id" in answer.headers:  # LinkedIn: the URN in a header, no body
        return answer.headers["x-restli-id"].rpartition(":")[2]
    body = answer.json()
    return str(body["data"]["id"] if "data" in body else body["id"])


# Mastodon


def test_mastodon_status_looks_like_mastodons(http: requests.Session, sandbox: Sandbox) -> None:
    answer = toot(http, sandbox, "Tom & <Jerry>")

    assert answer.status_code == 200
    status = answer.json()
    assert isinstance(status["id"], str)
    assert status["url"] == f"{sandbox.url}/@user/{status['id']}"
    assert status["content"] == "<p>Tom &amp; &lt;Jerry&gt;</p>"
    assert ISO_MILLIS.match(status["created_at"])
    assert status["visibility"] == "public"
    assert status["uri"].endswith(status["id"])


def test_mastodon_same_idempotency_key_returns_the_same_status(
    http: requests.Session, sandbox: Sandbox
) -> None:
    first = toot(http, sandbox, "once", key="post-1").json()
    again = toot(http, sandbox, "once", key="post-1").json()

    assert again == first
    assert sandbox.create_count(text="once") == 1
    assert len(sandbox.replays) == 1
    assert sandbox.duplicates() == []


def test_concurrent_retries_with_one_key_create_once(sandbox: Sandbox) -> None:
    def post(_: int) -> str:
        with requests.Session() as own:
            return str(toot(own, sandbox, "racing", key="same").json()["id"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = set(pool.map(post, range(32)))

    assert len(ids) == 1
    assert sandbox.create_count(text="racing") == 1


def test_mastodon_idempotency_key_is_per_token(http: requests.Session, sandbox: Sandbox) -> None:
    toot(http, sandbox, "mine", key="k")
    other = {"Authorization": "Bearer other-token", "Idempotency-Key": "k"}
    http.post(f"{sandbox.url}/api/v1/statuses", json={"status": "mine"}, headers=other)

    assert sandbox.create_count(key="k") == 2


def test_mastodon_without_key_creates_twice_and_duplicates_reports_it(
    http: requests.Session, sandbox: Sandbox
) -> None:
    toot(http, sandbox, "twice")
    toot(http, sandbox, "twice")

    [duplicate] = sandbox.duplicates()
    assert (duplicate.kind, duplicate.field, duplicate.value, duplicate.count) == (
        "mastodon",
        "text",
        "twice",
        2,
    )


def test_mastodon_lookups(http: requests.Session, sandbox: Sandbox) -> None:
    ids = [toot(http, sandbox, f"post {n}").json()["id"] for n in range(3)]
    someone_else = {"Authorization": "Bearer someone-else"}
    http.post(f"{sandbox.url}/api/v1/statuses", data={"status": "x"}, headers=someone_else)

    me = http.get(f"{sandbox.url}/api/v1/accounts/verify_credentials", headers=TOKEN).json()
    listed = http.get(
        f"{sandbox.url}/api/v1/accounts/{me['id']}/statuses", params={"limit": 2}, headers=TOKEN
    ).json()
    one = http.get(f"{sandbox.url}/api/v1/statuses/{ids[0]}", headers=TOKEN).json()

    assert (me["id"], me["username"], me["acct"]) == ("1", "user", "user")
    assert [s["id"] for s in listed] == [ids[2], ids[1]]
    assert one["id"] == ids[0]


def statuses(http: requests.Session, url: str, **params: Any) -> requests.Response:
    return http.get(url, params=params, headers=TOKEN)


def test_mastodon_statuses_page_back_with_the_link_header(
    http: requests.Session, sandbox: Sandbox
) -> None:
    ids = [toot(http, sandbox, f"s{n}").json()["id"] for n in range(45)]
    url = f"{sandbox.url}/api/v1/accounts/1/statuses"

    default = statuses(http, url).json()
    pages: list[list[str]] = []
    links: list[dict[str, Any]] = []
    next_url: str | None = f"{url}?limit=50"  # more than the maximum: 40
    while next_url:
        answer = http.get(next_url, headers=TOKEN)
        pages.append([s["id"] for s in answer.json()])
        links.append(answer.links)
        next_url = answer.links.get("next", {}).get("url")

    assert len(default) == 20
    assert [len(p) for p in pages] == [40, 5]
    assert [i for p in pages for i in p] == ids[::-1]
    assert links[0]["next"]["url"] == f"{url}?limit=40&max_id={ids[5]}"
    assert links[0]["prev"]["url"] == f"{url}?limit=40&min_id={ids[44]}"
    assert "next" not in links[1]  # a short page is the last


def test_mastodon_statuses_max_since_and_min_id(http: requests.Session, sandbox: Sandbox) -> None:
    ids = [toot(http, sandbox, f"m{n}").json()["id"] for n in range(6)]
    url = f"{sandbox.url}/api/v1/accounts/1/statuses"

    def listed(**params: Any) -> list[str]:
        return [s["id"] for s in statuses(http, url, **params).json()]

    assert listed(max_id=ids[3]) == ids[2::-1]
    assert listed(since_id=ids[2], limit=2) == [ids[5], ids[4]]  # the newest
    assert listed(min_id=ids[2], limit=2) == [ids[4], ids[3]]  # immediately newer
    assert listed(min_id=ids[1], max_id=ids[4]) == [ids[3], ids[2]]
    assert listed(max_id=ids[0]) == []
    assert "Link" not in statuses(http, url, max_id=ids[0]).headers
    assert statuses(http, url, limit="many").status_code == 400


def test_mastodon_blank_status_is_422(http: requests.Session, sandbox: Sandbox) -> None:
    answer = toot(http, sandbox, "  ")

    assert answer.status_code == 422
    assert answer.json() == {"error": "Validation failed: Text can't be blank"}


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("https://example.com/" + "x" * 600, 200),  # a link counts 23, however long
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467" * 500, 200),  # 500 graphemes
        ("a" * 501, 422),
    ],
)
def test_mastodon_counts_a_status_as_mastodon_does(
    http: requests.Session, sandbox: Sandbox, text: str, status: int
) -> None:
    assert toot(http, sandbox, text).status_code == status


# Invalid tokens: each provider's own error format.


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", "/api/v1/statuses", {"status": "hi"}, MASTODON_401),
        ("GET", "/api/v1/accounts/verify_credentials", None, MASTODON_401),
        ("POST", "/2/tweets", {"text": "hi"}, X_401),
        ("GET", "/2/users/me", None, X_401),
        ("POST", "/hooks/alerts", {"text": "hi"}, {"error": "unauthorized"}),
    ],
)
def test_invalid_token_is_401_in_the_providers_format(
    http: requests.Session,
    sandbox: Sandbox,
    method: str,
    path: str,
    body: dict[str, str] | None,
    expected: dict[str, Any],
) -> None:
    sandbox.invalid_tokens.add("revoked")

    answer = http.request(
        method, sandbox.url + path, json=body, headers={"Authorization": "Bearer revoked"}
    )

    assert answer.status_code == 401
    assert answer.json() == expected
    assert sandbox.creates == []


# Scripted faults


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        ("503", 503, {"error": "Service Unavailable"}),
        ("500", 500, {"error": "Internal Server Error"}),
        ("429", 429, {"error": "Too many requests"}),
        ("401", 401, {"error": "The access token is invalid"}),
        ("403", 403, {"error": "This action is not allowed"}),
        ("422", 422, {"error": "Validation failed: Text can't be blank"}),
        ("x_code:88", 429, {"errors": [{"code": 88, "message": "Rate limit exceeded."}]}),
        ("x_code:187", 403, {"errors": [{"code": 187, "message": "Status is a duplicate."}]}),
    ],
)
def test_scripted_fault_then_ok(
    http: requests.Session, sandbox: Sandbox, fault: str, status: int, body: dict[str, Any]
) -> None:
    text = f"hello [[fault:{fault}]]"

    first = toot(http, sandbox, text, key="k1")
    created = sandbox.create_count(text=text)
    second = toot(http, sandbox, text, key="k1")

    assert (first.status_code, first.json()) == (status, body)
    assert created == 0
    assert second.status_code == 200
    assert sandbox.create_count(text=text) == 1


def test_fault_script_runs_in_order_per_key(http: requests.Session, sandbox: Sandbox) -> None:
    text = "[[fault:503,429,ok,500]]"

    statuses = [toot(http, sandbox, text, key="a").status_code for _ in range(5)]
    other_key = toot(http, sandbox, text, key="b").status_code

    assert statuses == [503, 429, 200, 500, 200]  # the script in order, then ok forever
    assert other_key == 503


def test_429_carries_retry_after_and_rate_limit_headers(
    http: requests.Session, sandbox: Sandbox
) -> None:
    answer = toot(http, sandbox, "[[fault:429]]")

    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert ISO_MILLIS.match(answer.headers["X-RateLimit-Reset"])


@pytest.mark.parametrize("seconds", [1, 30])
def test_429_says_how_long_to_wait_in_each_providers_headers(
    http: requests.Session, sandbox: Sandbox, seconds: int
) -> None:
    sandbox.throttle_seconds = seconds
    before = datetime.now().astimezone()
    mastodon = toot(http, sandbox, "[[fault:429]] m")
    x = tweet(http, sandbox, "[[fault:x_code:88]] x")

    assert mastodon.headers["Retry-After"] == x.headers["Retry-After"] == str(seconds)
    reset = datetime.fromisoformat(mastodon.headers["X-RateLimit-Reset"])
    assert reset >= before + timedelta(seconds=seconds - 0.001)
    assert x.headers["x-rate-limit-remaining"] == "0"
    assert int(x.headers["x-rate-limit-reset"]) >= (before + timedelta(seconds=seconds)).timestamp()


def test_in_flight_peak_counts_overlapping_requests_per_token(
    http: requests.Session, sandbox: Sandbox
) -> None:
    # Given a slow provider: every API request is answered 2 s late
    sandbox.latency_seconds = 2.0
    path = "/api/v1/statuses"
    # When one create runs alone, then two overlap (the second starts once the first is
    # recorded, so while the first is still waiting to be answered)
    assert toot(http, sandbox, "alone").status_code == 200
    assert sandbox.max_in_flight("POST", path, "good-token") == 1
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(toot, requests.Session(), sandbox, "first")
        deadline = time.monotonic() + 10
        while not any(b"first" in call.body for call in sandbox.calls):
            assert time.monotonic() < deadline, "the first create never arrived"
            time.sleep(0.01)
        second = pool.submit(toot, requests.Session(), sandbox, "second")
        assert first.result().status_code == second.result().status_code == 200
    # Then the peak says two were in flight at once, for that token only
    assert sandbox.max_in_flight("POST", path, "good-token") == 2
    assert sandbox.max_in_flight("POST", path, "other-token") == 0
    sandbox.reset()
    assert sandbox.max_in_flight("POST", path, "good-token") == 0


def test_slow_fault_creates_the_post_but_the_client_times_out(
    http: requests.Session, sandbox: Sandbox
) -> None:
    text = "ambiguous [[fault:slow]]"

    with pytest.raises(requests.ReadTimeout):
        toot(http, sandbox, text, key="k", timeout=(2, 0.2))
    landed = sandbox.create_count(text=text)
    retried = toot(http, sandbox, text, key="k", timeout=5)

    assert landed == 1
    assert retried.status_code == 200
    assert retried.json()["id"] == sandbox.creates[0].id
    assert sandbox.duplicates() == []


def test_reset_fault_breaks_the_connection_before_creating(
    http: requests.Session, sandbox: Sandbox
) -> None:
    with pytest.raises(requests.ConnectionError):
        toot(http, sandbox, "[[fault:reset]]", key="k")

    assert sandbox.creates == []
    assert toot(http, sandbox, "[[fault:reset]]", key="k").status_code == 200


def test_malformed_fault_creates_the_post_and_answers_garbage(
    http: requests.Session, sandbox: Sandbox
) -> None:
    answer = toot(http, sandbox, "[[fault:malformed]]")

    assert answer.status_code == 200
    assert answer.content == b"{not json"
    assert sandbox.create_count(text="[[fault:malformed]]") == 1


@pytest.mark.parametrize("kind", KEYED)
@pytest.mark.parametrize(
    ("fault", "seen"),
    [
        ("reset_after", "reset"),
        ("502_after", 502),
        ("503_after", 503),
        ("504_after", 504),
        ("slow", "timeout"),
    ],
)
def test_after_store_fault_stores_one_post_and_tells_the_client_nothing(
    http: requests.Session, kind: str, fault: str, seen: str | int
) -> None:
    text = f"landed [[fault:{fault}]]"
    with Sandbox(strict=True, slow_seconds=1.0) as strict:
        # When the create meets a fault that strikes after the store
        if seen == "reset":
            with pytest.raises(requests.ConnectionError):
                create(http, strict, kind, text, key="k")
        elif seen == "timeout":
            with pytest.raises(requests.ReadTimeout):
                create(http, strict, kind, text, key="k", timeout=(2, 0.2))
        else:
            answer = create(http, strict, kind, text, key="k")
            assert answer.status_code == seen
            body = answer.json()
            if kind == "x":  # each provider's own error format
                assert (body["title"], body["status"]) == (HTTPStatus(seen).phrase, seen)
            elif kind == "linkedin":
                assert body == {"status": seen, "message": HTTPStatus(seen).phrase}
            else:
                assert body == {"error": HTTPStatus(seen).phrase}

        # Then the post exists exactly once, with the id the provider assigned
        [created] = strict.creates
        assert (created.kind, created.text) == (kind, text)
        assert strict.ids_for(text) == [created.id]


def test_helpful_mastodon_replays_the_post_a_reset_after_hid(
    http: requests.Session, sandbox: Sandbox
) -> None:
    with pytest.raises(requests.ConnectionError):
        toot(http, sandbox, "[[fault:reset_after]]", key="k")
    retried = toot(http, sandbox, "[[fault:reset_after]]", key="k")

    assert retried.json()["id"] == sandbox.ids_for_key("k")[0]
    assert sandbox.create_count() == 1


def test_after_store_faults_in_a_random_mix(http: requests.Session) -> None:
    mix = ["reset_after", "502_after", "503_after", "504_after"]
    with Sandbox(fault_rate=1.0, seed=3, fault_mix=mix, strict=True) as chaotic:
        seen = []
        for n in range(12):
            try:
                seen.append(tweet(http, chaotic, f"post {n}").status_code)
            except requests.ConnectionError:
                seen.append(0)

        assert chaotic.create_count() == 12  # every one stored...
    assert set(seen) <= {0, 502, 503, 504}  # ...and none answered as created
    assert len(set(seen)) >= 3  # the mix is drawn from


def test_strict_mix_has_faults_before_and_after_the_store() -> None:
    faults = [parse_fault(name) for name in STRICT_MIX]

    assert {f.name for f in faults if f.before_create} == {"503", "429", "reset"}
    assert {f.name for f in faults if not f.before_create} == set(AFTER_STORE)


def test_unknown_fault_name_is_400(http: requests.Session, sandbox: Sandbox) -> None:
    assert toot(http, sandbox, "[[fault:teapot]]").status_code == 400


def test_random_faults_follow_rate_mix_and_seed(http: requests.Session) -> None:
    def run(seed: int) -> list[int]:
        with Sandbox(fault_rate=0.5, seed=seed, fault_mix=["503", "429"]) as chaotic:
            return [toot(http, chaotic, f"post {n}").status_code for n in range(20)]

    first, again = run(7), run(7)

    assert first == again
    assert set(first) == {200, 503, 429}


def test_lookups_are_never_faulted(http: requests.Session) -> None:
    with Sandbox(fault_rate=1.0, fault_mix=["503"]) as chaotic:
        assert toot(http, chaotic, "x").status_code == 503
        answer = http.get(f"{chaotic.url}/api/v1/accounts/1/statuses", headers=TOKEN)
        assert answer.status_code == 200


# Lookup faults

LOOKUPS = [
    ("/api/v1/accounts/verify_credentials", {"error": "Service Unavailable"}),
    ("/api/v1/accounts/1/statuses", {"error": "Service Unavailable"}),
    ("/2/users/me", {"title": "Service Unavailable", "status": 503}),
    ("/2/users/42/tweets", {"title": "Service Unavailable", "status": 503}),
]


@pytest.mark.parametrize(("path", "error"), LOOKUPS)
def test_fail_lookups_fails_the_next_ones_in_the_providers_format(
    http: requests.Session, sandbox: Sandbox, path: str, error: dict[str, Any]
) -> None:
    sandbox.fail_lookups(2)

    answers = [http.get(sandbox.url + path, headers=TOKEN) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert error.items() <= answers[0].json().items()
    assert sandbox.failed_lookups == 2


def test_fail_lookups_until_disarmed_and_with_a_reset(
    http: requests.Session, sandbox: Sandbox
) -> None:
    url = f"{sandbox.url}/2/users/me"
    sandbox.fail_lookups(None, status=429)
    throttled = [http.get(url, headers=TOKEN).status_code for _ in range(4)]
    sandbox.fail_lookups(1, status=0)
    with pytest.raises(requests.ConnectionError):
        http.get(url, headers=TOKEN)
    served = http.get(url, headers=TOKEN)
    sandbox.fail_lookups(None)
    sandbox.fail_lookups(0)

    assert throttled == [429] * 4
    assert served.status_code == 200
    assert http.get(url, headers=TOKEN).status_code == 200


def test_fail_lookups_for_one_token_leaves_the_others(
    http: requests.Session, sandbox: Sandbox
) -> None:
    url = f"{sandbox.url}/api/v1/accounts/verify_credentials"
    sandbox.fail_lookups(1, token="good-token")

    other = http.get(url, headers={"Authorization": "Bearer other"})
    mine = http.get(url, headers=TOKEN)

    assert (other.status_code, mine.status_code) == (200, 503)


def test_fail_lookups_never_touches_creates(http: requests.Session, sandbox: Sandbox) -> None:
    sandbox.fail_lookups(None)

    assert toot(http, sandbox, "still posts").status_code == 200
    assert tweet(http, sandbox, "still tweets").status_code == 201
    assert sandbox.failed_lookups == 0


def test_fail_lookups_counts_exactly_under_concurrency(sandbox: Sandbox) -> None:
    sandbox.fail_lookups(5)

    def look(_: int) -> int:
        with requests.Session() as own:
            return own.get(f"{sandbox.url}/2/users/me", headers=TOKEN).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(look, range(24)))

    assert statuses.count(503) == 5
    assert statuses.count(200) == 19


def test_fail_lookups_refuses_nonsense_and_reset_disarms(
    http: requests.Session, sandbox: Sandbox
) -> None:
    with pytest.raises(ValueError, match="times"):
        sandbox.fail_lookups(-1)
    with pytest.raises(ValueError, match="status"):
        sandbox.fail_lookups(1, status=200)
    sandbox.fail_lookups(None)

    sandbox.reset()

    assert http.get(f"{sandbox.url}/2/users/me", headers=TOKEN).status_code == 200


# X


def test_x_create_refuses_duplicate_text(http: requests.Session, sandbox: Sandbox) -> None:
    created = tweet(http, sandbox, "same words")
    again = tweet(http, sandbox, "same words")

    assert created.status_code == 201
    assert created.json()["data"]["text"] == "same words"
    assert again.status_code == 403
    assert again.json() == {
        "title": "Forbidden",
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank",
        "status": 403,
    }
    assert sandbox.create_count(kind="x") == 1


def timeline(http: requests.Session, sandbox: Sandbox, **params: Any) -> requests.Response:
    return http.get(f"{sandbox.url}/2/users/42/tweets", params=params, headers=TOKEN)


def test_x_lookups(http: requests.Session, sandbox: Sandbox) -> None:
    me = http.get(f"{sandbox.url}/2/users/me", headers=TOKEN).json()["data"]
    empty = timeline(http, sandbox).json()
    ids = [tweet(http, sandbox, f"t{n}").json()["data"]["id"] for n in range(2)]
    plain = timeline(http, sandbox).json()
    dated = timeline(http, sandbox, **{"tweet.fields": "created_at"}).json()

    assert me == {"id": "42", "name": "Sandbox user", "username": "user"}
    assert empty == {"meta": {"result_count": 0}}  # as X: no "data" when nothing matches
    assert [t["id"] for t in plain["data"]] == ids[::-1]
    assert plain["data"][0] == {"id": ids[1], "text": "t1", "edit_history_tweet_ids": [ids[1]]}
    assert all(ISO_MILLIS.match(t["created_at"]) for t in dated["data"])
    assert plain["meta"] == {"result_count": 2, "newest_id": ids[1], "oldest_id": ids[0]}


LINKED = "Tom & Jerry <3 https://example.com/a?b=1&c=2, see (https://en.wikipedia.org/wiki/X_(y))."


def test_x_create_answer_shortens_links_and_escapes(
    http: requests.Session, sandbox: Sandbox
) -> None:
    answer = tweet(http, sandbox, LINKED)

    data = answer.json()["data"]
    [first, second] = re.findall(r"https://t\.co/\w{10}", data["text"])
    assert answer.status_code == 201
    assert data["text"] == f"Tom &amp; Jerry &lt;3 {first}, see ({second})."
    assert set(data) == {"id", "text", "edit_history_tweet_ids"}  # no entities, no created_at
    assert data["edit_history_tweet_ids"] == [data["id"]]
    assert len(first) == 23
    assert sandbox.ids_for(LINKED) == [data["id"]]  # the ledger keeps the text as sent


def test_x_timeline_gives_the_links_only_in_entities_when_asked(
    http: requests.Session, sandbox: Sandbox
) -> None:
    created = tweet(http, sandbox, LINKED).json()["data"]

    [bare] = timeline(http, sandbox).json()["data"]
    [full] = timeline(http, sandbox, **{"tweet.fields": "created_at,entities"}).json()["data"]

    assert "entities" not in bare
    assert bare["text"] == full["text"] == created["text"]
    assert "example.com" not in full["text"]
    urls = full["entities"]["urls"]
    assert [u["expanded_url"] for u in urls] == [
        "https://example.com/a?b=1&c=2",
        "https://en.wikipedia.org/wiki/X_(y)",
    ]
    assert [u["display_url"] for u in urls] == ["example.com/a?b=1&c=2", "en.wikipedia.org/wiki/…"]
    unescaped = html.unescape(full["text"])  # offsets count code points before escaping
    assert [unescaped[u["start"] : u["end"]] for u in urls] == [u["url"] for u in urls]


@pytest.mark.parametrize(
    ("text", "shown", "expanded"),
    [
        ("a & b <c> \"q\" 'q'", "a &amp; b &lt;c&gt; \"q\" 'q'", []),
        ("https://a.example/x.", "{0}.", ["https://a.example/x"]),
        ("https://a.example/x?! ok", "{0}?! ok", ["https://a.example/x"]),
        ('"https://a.example/q"', '"{0}"', ["https://a.example/q"]),
        ("é👍 http://a.example", "é👍 {0}", ["http://a.example"]),
        ("https://. and https://", "https://. and https://", []),
        ("https://a.example/1 https://a.example/1", "{0} {0}", ["https://a.example/1"] * 2),
    ],
)
def test_x_text_rendering(text: str, shown: str, expanded: list[str]) -> None:
    rendered = render(text)

    links = [u["url"] for u in rendered.urls]
    assert rendered.text == shown.format(*links)
    assert [u["expanded_url"] for u in rendered.urls] == expanded
    assert all(re.fullmatch(r"https://t\.co/[0-9A-Za-z]{10}", link) for link in links)
    plain = html.unescape(rendered.text)
    assert all(plain[u["start"] : u["end"]] == u["url"] for u in rendered.urls)


def test_x_timeline_pages_with_next_token(http: requests.Session, sandbox: Sandbox) -> None:
    sandbox.set_strict(["x"])
    ids = [tweet(http, sandbox, f"n{n}").json()["data"]["id"] for n in range(12)]

    pages, token = [], None
    while True:
        params = {"max_results": "5", **({"pagination_token": token} if token else {})}
        body = timeline(http, sandbox, **params).json()
        pages.append(body)
        token = body["meta"].get("next_token")
        if token is None:
            break

    assert [p["meta"]["result_count"] for p in pages] == [5, 5, 2]
    assert [t["id"] for p in pages for t in p["data"]] == ids[::-1]
    assert [(p["meta"]["newest_id"], p["meta"]["oldest_id"]) for p in pages] == [
        (ids[11], ids[7]),
        (ids[6], ids[2]),
        (ids[1], ids[0]),
    ]


def test_x_timeline_bounds_by_id_and_time(http: requests.Session, sandbox: Sandbox) -> None:
    ids = [tweet(http, sandbox, f"b{n}").json()["data"]["id"] for n in range(5)]
    first, last = sandbox.creates[0].at, sandbox.creates[-1].at
    before = (first - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # X reads seconds
    after = (last + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def listed(**params: str) -> list[str]:
        return [t["id"] for t in timeline(http, sandbox, **params).json().get("data", [])]

    assert listed(since_id=ids[1]) == ids[:1:-1]
    assert listed(until_id=ids[3]) == ids[2::-1]
    assert listed(since_id=ids[0], until_id=ids[4]) == ids[3:0:-1]
    assert listed(start_time=before) == ids[::-1]
    assert listed(start_time=after) == []
    assert listed(end_time=before) == []
    assert listed(end_time=after) == ids[::-1]
    assert listed(start_time=after, since_id=ids[3]) == ids[4:]  # the id wins


def _at(n: int, at: str) -> CreateRecord:
    return CreateRecord(
        "x", "t", f"t{n}", None, str(n), datetime.fromisoformat(at), "/2/tweets", {}
    )


@pytest.mark.parametrize(
    ("params", "admitted"),
    [
        # start_time is inclusive and end_time exclusive, both to the second
        ({"start_time": "2024-05-01T12:00:01Z"}, [2, 3, 4]),
        ({"end_time": "2024-05-01T12:00:02Z"}, [1, 2, 3]),
        ({"start_time": "2024-05-01T12:00:01.900Z"}, [2, 3, 4]),
        ({"since_id": "2", "start_time": "2024-05-01T12:00:03Z"}, [3, 4]),
        ({"until_id": "3", "end_time": "2024-05-01T12:00:00Z"}, [1, 2]),
    ],
)
def test_x_timeline_time_bounds(params: dict[str, str], admitted: list[int]) -> None:
    records = [
        _at(1, "2024-05-01T12:00:00.999+00:00"),
        _at(2, "2024-05-01T12:00:01.000+00:00"),
        _at(3, "2024-05-01T12:00:01.999+00:00"),
        _at(4, "2024-05-01T12:00:02.000+00:00"),
    ]
    query = x_timeline.parse(params)

    assert [int(r.id) for r in records if query.admits(r)] == admitted


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"max_results": "4"}, "max_results"),
        ({"max_results": "101"}, "max_results"),
        ({"max_results": "ten"}, "max_results"),
        ({"since_id": "abc"}, "since_id"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"pagination_token": "not-a-token"}, "pagination_token"),
    ],
)
def test_x_timeline_refuses_bad_parameters_as_x_does(
    http: requests.Session, sandbox: Sandbox, params: dict[str, str], parameter: str
) -> None:
    answer = timeline(http, sandbox, **params)

    body = answer.json()
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert (body["title"], body["type"]) == (
        "Invalid Request",
        "https://api.twitter.com/2/problems/invalid-request",
    )
    assert list(body["errors"][0]["parameters"]) == [parameter]


def test_x_errors_are_problem_json(http: requests.Session, sandbox: Sandbox) -> None:
    tweet(http, sandbox, "once")
    duplicate = tweet(http, sandbox, "once")
    refused = tweet(http, sandbox, "[[fault:503]]")
    unreadable = http.post(f"{sandbox.url}/2/tweets", data=b"{", headers=TOKEN)

    for answer in (duplicate, refused, unreadable):
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert {"title", "detail", "type", "status"} <= set(answer.json())
    assert (refused.status_code, refused.json()["status"]) == (503, 503)
    assert unreadable.status_code == 400


def test_x_rate_limit_headers_on_every_answer(http: requests.Session, sandbox: Sandbox) -> None:
    sandbox.invalid_tokens.add("revoked")
    answers = {
        "created": tweet(http, sandbox, "counted"),
        "again": tweet(http, sandbox, "counted 2"),
        "faulted": tweet(http, sandbox, "[[fault:503_after]]"),
        "me": http.get(f"{sandbox.url}/2/users/me", headers=TOKEN),
        "timeline": timeline(http, sandbox),
        "invalid": timeline(http, sandbox, max_results="1"),
        "revoked": http.get(
            f"{sandbox.url}/2/users/me", headers={"Authorization": "Bearer revoked"}
        ),
        "throttled": tweet(http, sandbox, "[[fault:429]]"),
    }
    sandbox.fail_lookups(1)
    answers["lookup fault"] = http.get(f"{sandbox.url}/2/users/me", headers=TOKEN)
    now = time.time()

    for name, answer in answers.items():
        headers = answer.headers
        assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= {
            h.lower() for h in headers
        }, name
        assert now < int(headers["x-rate-limit-reset"]) <= now + 15 * 60 + 1, name
    remaining = [int(answers[n].headers["x-rate-limit-remaining"]) for n in ("created", "again")]
    assert remaining == [99, 98]  # 100 creates per 15 minutes per user
    assert answers["throttled"].headers["x-rate-limit-remaining"] == "0"


# Strict and helpful modes


@pytest.mark.parametrize("kind", KEYED)
def test_helpful_mode_answers_a_repeat_with_the_first_post(
    http: requests.Session, sandbox: Sandbox, kind: str
) -> None:
    first = create(http, sandbox, kind, "say it once", key="k1")
    again = create(http, sandbox, kind, "say it once", key="k1")

    assert first.status_code in (200, 201)
    if kind == "x":  # X honours no key, but refuses the same text twice
        assert again.status_code == 403
    elif kind == "linkedin":  # refused as DUPLICATE_POST, naming the first post
        assert again.status_code == 422
        assert again.json()["message"].endswith(":" + created_id(first))
    else:
        assert again.json() == first.json()
    assert sandbox.ids_for("say it once") == [created_id(first)]


@pytest.mark.parametrize("kind", KEYED)
def test_strict_mode_creates_every_time(http: requests.Session, kind: str) -> None:
    with Sandbox(strict=[kind]) as strict:
        first = create(http, strict, kind, "said twice", key="k1")
        again = create(http, strict, kind, "said twice", key="k1")

        assert first.status_code == again.status_code
        assert first.status_code in (200, 201)
        assert strict.ids_for("said twice") == [created_id(first), created_id(again)]
        assert created_id(first) != created_id(again)
        assert strict.replays == []
        assert strict.creates_by_text() == {"said twice": 2}


def test_strict_is_per_kind_and_true_means_every_kind(http: requests.Session) -> None:
    with Sandbox(strict=["x"]) as sandbox:
        tweet(http, sandbox, "dup")
        tweet(http, sandbox, "dup")
        toot(http, sandbox, "keyed", key="k")
        toot(http, sandbox, "keyed", key="k")

        assert sandbox.strict == {"x"}
        assert sandbox.creates_by_text(kind="x") == {"dup": 2}
        assert sandbox.creates_by_text(kind="mastodon") == {"keyed": 1}
    assert Sandbox(strict=True).strict == set(KINDS)
    assert Sandbox().strict == set()


def test_set_strict_switches_while_running(http: requests.Session, sandbox: Sandbox) -> None:
    toot(http, sandbox, "switch", key="k")
    sandbox.set_strict(["mastodon", "webhook"])
    toot(http, sandbox, "switch", key="k")
    sandbox.set_strict(False)
    replayed = toot(http, sandbox, "switch", key="k")

    assert sandbox.creates_by_key() == {"k": 2}
    assert replayed.json()["id"] == sandbox.ids_for_key("k")[0]  # the first create's


def test_unknown_strict_kind_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown provider kind"):
        Sandbox(strict=["myspace"])
    with pytest.raises(ValueError, match="unknown provider kind"):
        sandbox.set_strict(["x", "myspace"])
    assert sandbox.strict == set()


def test_a_single_kind_name_is_one_kind() -> None:
    assert Sandbox(strict="webhook").strict == {"webhook"}


# The ledger's exactly-once accessors


def test_ledger_counts_and_names_creates_by_text_and_by_key(
    http: requests.Session, sandbox: Sandbox
) -> None:
    sandbox.set_strict(True)
    a1 = created_id(toot(http, sandbox, "a", key="key-a"))
    a2 = created_id(toot(http, sandbox, "a", key="key-a"))
    b = created_id(tweet(http, sandbox, "b"))
    c = created_id(hook(http, sandbox, "a", key="key-c"))

    assert sandbox.creates_by_text() == {"a": 3, "b": 1}
    assert sandbox.creates_by_text(kind="mastodon") == {"a": 2}
    assert sandbox.ids_for("a") == [a1, a2, c]
    assert sandbox.ids_for("a", kind="webhook") == [c]
    assert sandbox.ids_for("b") == [b]
    assert sandbox.ids_for("nothing") == []
    assert sandbox.creates_by_key() == {"key-a": 2, "key-c": 1}  # X sent no key
    assert sandbox.creates_by_key(kind="webhook") == {"key-c": 1}
    assert sandbox.ids_for_key("key-a") == [a1, a2]
    assert sandbox.create_count() == 4


# Webhooks


def test_webhook_dedupes_on_idempotency_key(http: requests.Session, sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/hooks/alerts"
    headers = {"Idempotency-Key": "delivery-1", "X-Signature": "abc"}

    first = http.post(url, json={"text": "ping"}, headers=headers)
    again = http.post(url, json={"text": "ping"}, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert sandbox.create_count(kind="webhook") == 1
    assert [d.replay for d in sandbox.deliveries] == [False, True]
    assert sandbox.deliveries[0].headers["X-Signature"] == "abc"
    assert json.loads(sandbox.deliveries[0].body) == {"text": "ping"}


# Sentry and notifications


# The SDK as an application runs it: in a process of its own, so no state the rest of the
# suite left in sentry_sdk (a global client, its scopes, its transport's threads) can
# swallow the event; closed, which flushes what it holds, before the process ends.
SENTRY_CLIENT = """
import sys, sentry_sdk
client = sentry_sdk.Client(dsn=sys.argv[1], default_integrations=False)
client.capture_event({"message": "it broke", "level": "error"})
client.close(timeout=30)
"""


def test_sentry_sdk_events_are_captured(sandbox: Sandbox) -> None:
    subprocess.run(
        [sys.executable, "-c", SENTRY_CLIENT, sandbox.sentry_dsn], check=True, timeout=60
    )
    [event] = sandbox.sentry_events
    assert event["message"] == "it broke"


def test_gzipped_envelope_with_item_lengths(http: requests.Session, sandbox: Sandbox) -> None:
    event = json.dumps({"event_id": "abc", "message": "m"}).encode()
    envelope = b"\n".join(
        [
            b'{"event_id":"abc"}',
            b'{"type":"attachment","length":3}',
            b"a\nb",
            b'{"type":"event","length":%d}' % len(event),
            event,
        ]
    )

    answer = http.post(
        f"{sandbox.url}/api/1/envelope/",
        data=gzip.compress(envelope),
        headers={"Content-Encoding": "gzip"},
    )

    assert (answer.status_code, answer.json()) == (200, {})
    assert sandbox.sentry_events == [{"event_id": "abc", "message": "m"}]


def test_notify_stores_body_and_headers(http: requests.Session, sandbox: Sandbox) -> None:
    http.post(f"{sandbox.url}/notify", json={"post_id": 1}, headers={"X-Token": "t"})
    sandbox.notify_status = 503
    failing = http.post(f"{sandbox.url}/notify", json={"post_id": 2})

    assert [n.body for n in sandbox.notifications] == [{"post_id": 1}, {"post_id": 2}]
    assert sandbox.notifications[0].headers["X-Token"] == "t"
    assert failing.status_code == 503


# The server itself


def test_every_call_is_recorded_and_reset_forgets(http: requests.Session, sandbox: Sandbox) -> None:
    toot(http, sandbox, "hi", key="k")
    [call] = sandbox.calls
    sandbox.invalid_tokens.add("t")

    sandbox.reset()

    assert (call.method, call.path, call.status) == ("POST", "/api/v1/statuses", 200)
    assert call.headers["Idempotency-Key"] == "k"
    assert call.body == b"status=hi"
    assert (sandbox.calls, sandbox.creates, sandbox.invalid_tokens) == ([], [], set())


def test_stop_drops_keep_alive_connections_and_start_reuses_the_port(
    http: requests.Session,
) -> None:
    sandbox = Sandbox().start()
    try:
        toot(http, sandbox, "before", timeout=5)
        url = sandbox.url
        sandbox.stop()
        with pytest.raises(requests.ConnectionError):
            toot(http, sandbox, "while down", timeout=5)
        sandbox.start()
        toot(http, sandbox, "after", timeout=5)
    finally:
        sandbox.stop()

    assert sandbox.url == url
    assert [c.text for c in sandbox.creates] == ["before", "after"]


def test_unknown_path_and_method(http: requests.Session, sandbox: Sandbox) -> None:
    assert http.get(f"{sandbox.url}/nowhere").status_code == 404
    assert http.get(f"{sandbox.url}/api/v1/statuses").status_code == 405


@pytest.mark.integration
def test_cli_serves_until_sigterm(http: requests.Session) -> None:
    command = [sys.executable, "-m", "publisher.sandbox", "--port", "0"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        found = re.search(r"listening on (http://\S+)", process.stderr.readline())
        assert found, "the CLI logs its URL first"
        answer = http.get(f"{found.group(1)}/2/users/me", headers=TOKEN, timeout=5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stderr.read()

    assert answer.status_code == 200


@pytest.mark.integration
def test_cli_strict_flag(http: requests.Session) -> None:
    command = [sys.executable, "-m", "publisher.sandbox", "--port", "0", "--strict", "x"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        found = re.search(r"listening on (http://\S+)", process.stderr.readline())
        assert found, "the CLI logs its URL first"
        strict_line = process.stderr.readline()
        url = f"{found.group(1)}/2/tweets"
        answers = [
            http.post(url, json={"text": "again"}, headers=TOKEN, timeout=5).status_code
            for _ in range(2)
        ]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stderr.read()

    assert "strict: x" in strict_line
    assert answers == [201, 201]
