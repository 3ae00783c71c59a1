"""``engine.media_load.load`` against a real local HTTP server (TCP_NODELAY) and the
directory blob store: what is fetched, and every refusal, transient or permanent."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from publisher.core.blobs import DirectoryStore
from publisher.core.models import Media
from publisher.core.settings import Settings
from publisher.engine.exchange import new_session
from publisher.engine.media_load import load
from publisher.errors import MediaUnavailable
from publisher.providers.media_rule import MASTODON, WEBHOOK, Kind, X
from tests.support.media_files import GIF, MP4, PNG, sized

BIG = 6 * 1024 * 1024  # over X's 5 MB image limit
SMALL = replace(MASTODON, max_bytes={Kind.IMAGE: 1_000_000, Kind.VIDEO: 1_000_000})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self._answer(404, b"not found")
            return
        route(self)

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Callable[[_Handler], None]] = {}
        self.paths: list[str] = []
        self.release = threading.Event()  # ends the stalling routes

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address


def _chunked_forever(handler: _Handler) -> None:
    """An endless chunked body with no length: only the reader's bound stops it."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = PNG + b"\x00" * (64 * 1024 - len(PNG))
    try:
        while not handler.server.release.is_set():
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass


def _stall(handler: _Handler) -> None:
    """Headers, then nothing until the test ends."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    handler.wfile.write(PNG)
    handler.wfile.flush()
    handler.server.release.wait(30)


@pytest.fixture
def server() -> Iterator[_Server]:
    server = _Server()
    routes: dict[str, Callable[[_Handler], None]] = {
        "/cat.png": lambda h: h._answer(200, sized(PNG, 5000), {"Content-Type": "text/plain"}),
        "/cat.gif": lambda h: h._answer(200, sized(GIF, 5000)),
        "/clip.mp4": lambda h: h._answer(200, sized(MP4, 5000)),
        "/big.png": lambda h: h._answer(200, sized(PNG, BIG)),
        "/page.html": lambda h: h._answer(200, b"<html>not media</html>"),
        "/busy": lambda h: h._answer(503, b"busy"),
        "/throttled": lambda h: h._answer(429, b"slow down"),
        "/gone": lambda h: h._answer(410, b"gone"),
        "/hop": lambda h: h._answer(302, b"", {"Location": "/cat.png"}),
        "/loop": lambda h: h._answer(302, b"", {"Location": "/loop"}),
        "/to-metadata": lambda h: h._answer(
            302, b"", {"Location": "http://169.254.169.254/latest/meta-data"}
        ),
        "/endless": _chunked_forever,
        "/stall": _stall,
    }
    server.routes.update(routes)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = {"PUBLISHER_DATA_DIR": str(tmp_path), "PUBLISHER_HTTP_TIMEOUT": "0.5"}
    return Settings.from_env(env)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = new_session()
    yield session
    session.close()


def _url_media(server: _Server, path: str, alt: str = "a cat") -> Media:
    host, port = server.server_address[:2]
    return Media(id=1, source="url", url=f"http://{host}:{port}{path}", alt=alt)


def _load(
    media: Media,
    store: DirectoryStore,
    http: requests.Session,
    settings: Settings,
    rule: Any = MASTODON,
    seconds: float = 10.0,
) -> Any:
    return load(media, None, store, http, settings, time.monotonic() + seconds, rule)


def test_a_url_is_fetched_and_its_type_read_from_its_bytes(
    server: _Server, tmp_path: Path, http: requests.Session, settings: Settings
) -> None:
    store = DirectoryStore(tmp_path / "blobs")
    loaded = _load(_url_media(server, "/cat.png"), store, http, settings)
    # The host said text/plain; the bytes say PNG.
    assert (loaded.content_type, loaded.kind, loaded.filename) == ("image/png", "image", "cat.png")
    assert loaded.content == sized(PNG, 5000)
    assert loaded.alt == "a cat"


def test_a_redirect_is_followed(
    server: _Server, tmp_path: Path, http: requests.Session, settings: Settings
) -> None:
    loaded = _load(_url_media(server, "/hop"), DirectoryStore(tmp_path), http, settings)
    assert loaded.kind == Kind.IMAGE
    assert server.paths == ["/hop", "/cat.png"]


def test_an_upload_comes_from_the_store_with_the_posts_alt(
    tmp_path: Path, http: requests.Session, settings: Settings
) -> None:
    store = DirectoryStore(tmp_path / "blobs")
    store.put("media/ab/abc", sized(GIF, 100))
    media = Media(id=2, source="upload", blob_key="media/ab/abc", filename="dance.gif", alt="x")
    loaded = load(media, "the post's alt", store, http, settings, time.monotonic() + 5, X)
    assert (loaded.kind, loaded.filename, loaded.alt) == (Kind.GIF, "dance.gif", "the post's alt")


@pytest.mark.parametrize(
    ("path", "rule", "transient", "says"),
    [
        ("/busy", MASTODON, True, "HTTP 503"),
        ("/throttled", MASTODON, True, "HTTP 429"),
        ("/gone", MASTODON, False, "HTTP 410"),
        ("/missing", MASTODON, False, "HTTP 404"),
        ("/page.html", MASTODON, False, "not PNG"),
        ("/big.png", X, False, "at most 5,242,880"),  # declared length over X's image limit
        ("/endless", SMALL, False, "over 1,000,000 bytes"),  # no length: the read stops
        ("/loop", MASTODON, False, "redirects"),
        ("/to-metadata", MASTODON, False, "link-local"),
        ("/stall", MASTODON, True, "fetching"),  # read timeout (0.5 s)
    ],
)
def test_refusals_say_whether_to_retry(
    server: _Server,
    tmp_path: Path,
    http: requests.Session,
    settings: Settings,
    path: str,
    rule: Any,
    transient: bool,
    says: str,
) -> None:
    with pytest.raises(MediaUnavailable) as refused:
        _load(_url_media(server, path), DirectoryStore(tmp_path), http, settings, rule)
    assert refused.value.transient is transient
    assert says in refused.value.message


def test_a_kind_the_provider_does_not_take_is_refused(
    server: _Server, tmp_path: Path, http: requests.Session, settings: Settings
) -> None:
    images_only = replace(WEBHOOK, max_bytes={Kind.IMAGE: 1_000_000})
    with pytest.raises(MediaUnavailable) as refused:
        _load(
            _url_media(server, "/clip.mp4"), DirectoryStore(tmp_path), http, settings, images_only
        )
    assert not refused.value.transient
    assert "video" in refused.value.message


def test_the_deadline_ends_a_stalled_fetch(
    server: _Server, tmp_path: Path, http: requests.Session, settings: Settings
) -> None:
    # Given read timeouts longer than the deadline left
    patient = replace(settings, http_timeout=30.0)
    started = time.monotonic()
    with pytest.raises(MediaUnavailable) as refused:
        _load(_url_media(server, "/stall"), DirectoryStore(tmp_path), http, patient, seconds=0.5)
    # Then the deadline (not the 30 s timeout) ended it, as a transient failure
    assert time.monotonic() - started < 5
    assert refused.value.transient
    assert "deadline" in refused.value.message


def test_private_addresses_are_refused_unless_allowed(
    server: _Server, tmp_path: Path, http: requests.Session, settings: Settings
) -> None:
    strict = replace(settings, allow_private_urls=False)
    with pytest.raises(MediaUnavailable) as refused:
        _load(_url_media(server, "/cat.png"), DirectoryStore(tmp_path), http, strict)
    assert not refused.value.transient
    assert server.paths == []  # nothing was sent


def test_a_missing_blob_is_permanent(
    tmp_path: Path, http: requests.Session, settings: Settings
) -> None:
    media = Media(id=3, source="upload", blob_key="media/zz/nothing", filename="a.png", alt="")
    with pytest.raises(MediaUnavailable) as refused:
        _load(media, DirectoryStore(tmp_path), http, settings)
    assert not refused.value.transient
