"""Fixtures shared by the integration tests: a real Redis to talk to directly, the HTTP
API in process, and the dashboard in a real ``publisher web`` and headless Chromium."""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from publisher.api.app import create_app
from publisher.core.settings import Settings
from tests.support.browser import (
    READONLY,
    WAIT_MS,
    Console,
    chromium_or_skip,
    dashboard_env,
    open_page,
    publisher_web,
)
from tests.support.services import RedisServer

AUTH = {"Authorization": "Bearer test-key"}  # PUBLISHER_API_KEYS of the settings fixture


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the module (a module may define its own instead)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on an emptied Redis."""
    with redis.Redis.from_url(redis_server.url) as connection:
        connection.flushall()
        yield connection


@pytest.fixture
def api(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The HTTP API in process, authorized; a server error answers 500 (not raised)."""
    app = create_app(settings, sessions=sessions)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def dashboard(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The dashboard's app in process with a full and a read-only key; no session yet; a
    server error answers 500 (not raised)."""
    settings = dataclasses.replace(settings, readonly_api_keys=(READONLY,))
    with TestClient(create_app(settings, sessions=sessions), raise_server_exceptions=False) as c:
        yield c


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server (a media host) over ``tmp_path / "files"``."""
    root = tmp_path / "files"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium (never a downloaded one), one per module."""
    executable = chromium_or_skip()
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def web(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[str]:
    """A real ``publisher web`` on the test's (migrated) database, with both kinds of key;
    a module that needs a pipeline behind it overrides this fixture."""
    with publisher_web(dashboard_env(settings), tmp_path / "web.log") as url:
        yield url


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(
    browser: Browser, web: str, console: Console, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A fresh browser context on ``web``; fails the test on any console error and saves
    a screenshot of its last page."""
    with open_page(browser, console, request.node.name, web) as opened:
        yield opened
    assert console.errors == [], f"the page logged errors: {console.errors}"
