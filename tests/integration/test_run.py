"""``publisher run`` on the embedded defaults: one command, clean stop, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from publisher.sandbox import Sandbox
from tests.support.pipeline import wait_for
from tests.support.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(
        {
            "PUBLISHER_DATA_DIR": str(data_dir),
            "PUBLISHER_WEB_PORT": str(port),
            "PUBLISHER_SWEEP_INTERVAL": "1",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "publisher.cli", "run"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def _leftovers(data_dir: Path) -> str:
    found = subprocess.run(["pgrep", "-af", str(data_dir)], capture_output=True, text=True)
    return found.stdout.strip()


def _healthy(api: str) -> bool:
    try:
        return requests.get(api + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_run_publishes_stops_cleanly_and_restarts(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "run.log"
    api = f"http://127.0.0.1:{port}"
    with Sandbox() as sandbox:
        # Given `publisher run` on an empty data directory
        process = _start(data_dir, port, log)
        try:
            wait_for(lambda: _healthy(api), 60, lambda: log.read_text())
            account = requests.post(api + "/v1/accounts", json={"name": "a"}).json()["id"]
            credential = requests.post(
                f"{api}/v1/accounts/{account}/credentials",
                json={
                    "provider": "webhook",
                    "base_url": sandbox.url + "/hooks/run",
                    "token": "tok-run",
                },
            ).json()["id"]
            post = requests.post(
                api + "/v1/posts",
                json={"account_id": account, "credential_id": credential, "text": "run it"},
            ).json()
            requests.post(f"{api}/v1/posts/{post['id']}/approve").raise_for_status()
            # Then the post is published once
            wait_for(
                lambda: requests.get(f"{api}/v1/posts/{post['id']}").json()["state"] == "done",
                60,
                lambda: log.read_text()[-3000:],
            )
            assert sandbox.create_count(text="run it") == 1
        finally:
            code = _stop(process)
        # And SIGTERM stops everything, leaving no process behind
        assert code == 0
        time.sleep(0.5)
        assert _leftovers(data_dir) == ""
        # And a restart on the same data directory still has the post
        process = _start(data_dir, port, log)
        try:
            wait_for(lambda: _healthy(api), 60, lambda: log.read_text())
            again = requests.get(f"{api}/v1/posts/{post['id']}").json()
            assert again["state"] == "done" and again["external_id"]
        finally:
            assert _stop(process) == 0
        assert sandbox.create_count(text="run it") == 1
    assert _leftovers(data_dir) == ""
