"""The deployment files (``Procfile`` and ``deploy/``): they parse, they name only real
``publisher`` commands and real settings, and the Procfile runs the pipeline under honcho.

Docker, Kubernetes, systemd and cron are not needed: each file is checked with the parser
of its format, and every command line found in them is run with ``--help``.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import yaml
from croniter import croniter
from cryptography.fernet import Fernet
from honcho.environ import parse_procfile

from publisher.sandbox import Sandbox
from tests.support.services import RedisServer, free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROCFILE = ROOT / "Procfile"
CRONTAB = DEPLOY / "crontab"
SYSTEMD = DEPLOY / "systemd"
BIN = Path(sys.executable).parent  # the virtualenv's bin: publisher and honcho live here
PUBLISHER = BIN / "publisher"
SHELL_BREAKS = {";", "&&", "||", "|", "&", ">", ">>", "<", "2>", "(", ")"}
SETTING = re.compile(r"\bPUBLISHER_[A-Z0-9_]+\b")
PLACEHOLDER = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")  # ${NAME} or ${NAME:-default}


# Reading the files -------------------------------------------------------------------


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _deploy_files() -> list[Path]:
    return [PROCFILE, *sorted(p for p in DEPLOY.rglob("*") if p.is_file())]


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"})


def _yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(_read(path)) if doc is not None]


def _procfile() -> dict[str, str]:
    return dict(parse_procfile(_read(PROCFILE)).processes)


def _crontab() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(environment lines, [(schedule, command)]) of a user crontab."""
    env: dict[str, str] = {}
    jobs = []
    for raw in _read(CRONTAB).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*(.*)", line)
        if assignment:
            env[assignment[1]] = assignment[2]
            continue
        fields = line.split(maxsplit=5)
        assert len(fields) == 6, f"crontab line is not 5 fields and a command: {line!r}"
        jobs.append((" ".join(fields[:5]), fields[5]))
    return env, jobs


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep Key=Value case
    parser.read_string(_read(path), source=str(path))
    return parser


def _services() -> list[Path]:
    return sorted(SYSTEMD.glob("*.service"))


def _find(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, value in node.items():
            if k == key:
                yield value
            yield from _find(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _find(item, key)


def _yaml_commands(node: Any) -> Iterator[list[str]]:
    """Every ``command`` (compose, Kubernetes) in a parsed YAML tree, as an argv."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "command" and isinstance(value, list):
                yield [str(part) for part in value]
            elif key == "command" and isinstance(value, str):
                yield shlex.split(value)
            else:
                yield from _yaml_commands(value)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_commands(item)


def _publisher_argvs(line: str) -> Iterator[list[str]]:
    """Each ``publisher ...`` invocation in a shell command line, up to ; | > and so on."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    for i, token in enumerate(tokens):
        if Path(token).name == "publisher":
            argv = [token]
            for word in tokens[i + 1 :]:
                if word in SHELL_BREAKS:
                    break
                argv.append(word)
            yield argv


def _dockerfile_cmd() -> list[str]:
    for line in _read(DEPLOY / "Dockerfile").splitlines():
        if line.startswith("CMD "):
            parsed: list[str] = yaml.safe_load(line.removeprefix("CMD "))  # a JSON array
            return parsed
    raise AssertionError("deploy/Dockerfile has no CMD")


def _command_sources() -> list[tuple[str, str]]:
    """Every publisher command line in the deploy files, with its source: (line, source)."""
    found: list[tuple[str, str]] = []

    def add(source: str, text: str) -> None:
        for argv in _publisher_argvs(text):
            found.append((shlex.join(["publisher", *argv[1:]]), source))

    for name, command in _procfile().items():
        add(f"Procfile {name}", command)
    for _schedule, command in _crontab()[1]:
        add("deploy/crontab", command)
    for unit in _services():
        add(unit.name, _unit(unit)["Service"]["ExecStart"])
    add("deploy/Dockerfile", shlex.join(_dockerfile_cmd()))
    for path in _yaml_files():
        for argv in _yaml_commands(_yaml_documents(path)):
            source = path.relative_to(ROOT).as_posix()
            if argv and Path(argv[0]).name == "publisher":
                add(source, shlex.join(argv))
            else:  # a shell loop, ["while true; do publisher watchdog; ...; done"]
                for part in argv:
                    add(source, part)
    return found


def _resolved(argv: list[str]) -> list[str]:
    """``argv`` with ${NAME:-default} set to its default (``${NAME}`` to 1)."""
    return [PLACEHOLDER.sub(lambda m: m[2] if m[2] is not None else "1", a) for a in argv]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_") and k != "SENTRY_DSN"
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


COMMAND_SOURCES = _command_sources()
# Each distinct line, naming the first source it appears in.
COMMAND_LINES = {line: source for line, source in reversed(COMMAND_SOURCES)}


# Format checks -----------------------------------------------------------------------


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path: Path) -> None:
    documents = _yaml_documents(path)
    assert documents and all(isinstance(doc, dict) for doc in documents)


@pytest.mark.parametrize("path", sorted((DEPLOY / "k8s").glob("*.yaml")), ids=lambda p: p.name)
def test_kubernetes_objects_are_named_and_use_the_shared_config(path: Path) -> None:
    for doc in _yaml_documents(path):
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]
        for env_from in _find(doc, "envFrom"):
            refs = {next(iter(ref)): next(iter(ref.values()))["name"] for ref in env_from}
            assert refs == {"configMapRef": "publisher", "secretRef": "publisher"}


def test_kubernetes_watchdog_runs_every_minute_without_overlap() -> None:
    (cronjob,) = _yaml_documents(DEPLOY / "k8s" / "watchdog-cronjob.yaml")
    assert cronjob["kind"] == "CronJob"
    assert cronjob["spec"]["schedule"] == "* * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"


def test_compose_services_and_dependencies() -> None:
    (compose,) = _yaml_documents(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    expected = {"redis", "postgres", "migrate", "web", "worker", "control", "beat", "watchdog"}
    assert set(services) == expected
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services) - {name}
    for name in ("web", "worker", "control", "beat", "watchdog"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_procfile_runs_web_workers_and_beat_only() -> None:
    processes = _procfile()
    assert list(processes) == ["web", "worker", "control", "beat"]
    for name, command in processes.items():
        assert shlex.split(command)[:2] == ["publisher", name]


def test_crontab_runs_the_watchdog_every_minute() -> None:
    env, jobs = _crontab()
    assert {"SHELL", "MAILTO"} <= set(env)
    (schedule, command), *others = jobs
    assert not others, "one job: the watchdog"
    assert croniter.is_valid(schedule), schedule
    assert schedule == "* * * * *"
    (argv,) = _publisher_argvs(command)
    assert argv[0].endswith("/publisher") and argv[1:] == ["watchdog", "--repair"]
    assert "2>" not in command, "stderr must reach cron's mail"


@pytest.mark.parametrize("path", _services(), ids=lambda p: p.name)
def test_systemd_service_runs_publisher_from_the_shared_environment(path: Path) -> None:
    unit = _unit(path)
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].startswith("/") and Path(argv[0]).name == "publisher"
    assert service["EnvironmentFile"] == "/etc/publisher/env"
    assert service["User"] == "publisher"
    assert service["KillSignal"] == "SIGTERM"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    if service.get("Type") != "oneshot":
        assert service["Restart"] == "always"
    for field in ("Wants", "After", "Requires"):
        for needed in unit["Unit"].get(field, "").split():
            if needed.startswith("publisher"):
                assert (SYSTEMD / needed).is_file(), f"{path.name} {field}= {needed}: no such unit"


def test_systemd_worker_outlasts_a_lease_on_stop() -> None:
    service = _unit(SYSTEMD / "publisher-worker@.service")["Service"]
    assert int(service["TimeoutStopSec"]) > 120  # the default PUBLISHER_LEASE_SECONDS
    assert service["KillMode"] == "mixed"  # SIGTERM to Celery's main process only


def test_systemd_timer_starts_the_watchdog_service() -> None:
    timer = _unit(SYSTEMD / "publisher-watchdog.timer")
    assert timer["Timer"]["OnCalendar"] == "minutely"
    target = timer["Timer"].get("Unit", "publisher-watchdog.service")
    assert (SYSTEMD / target).is_file()
    assert "watchdog" in _unit(SYSTEMD / target)["Service"]["ExecStart"].split()


# Commands and settings ---------------------------------------------------------------


def test_every_deploy_file_runs_a_known_command() -> None:
    subcommands = {shlex.split(line)[1] for line in COMMAND_LINES}
    assert subcommands == {"db", "web", "worker", "control", "beat", "watchdog"}


def test_every_deployment_runs_a_control_worker_beside_the_publishing_workers() -> None:
    # Publishing workers consume only the publish queue: without a control worker,
    # nothing would sweep. Every deployment that runs workers runs one.
    def deployment(source: str) -> str:  # Procfile, systemd, docker-compose.yml, k8s
        if source.endswith(".service"):
            return "systemd"
        return source.split()[0].removeprefix("deploy/").split("/")[0]

    runs: dict[str, set[str]] = {"worker": set(), "control": set()}
    for line, source in COMMAND_SOURCES:
        role = shlex.split(line)[1]
        if role in runs:
            runs[role].add(deployment(source))
    assert runs["worker"] == runs["control"] == {"Procfile", "systemd", "docker-compose.yml", "k8s"}


@pytest.mark.parametrize("line", sorted(COMMAND_LINES), ids=lambda line: line)
def test_command_line_is_accepted(line: str, tmp_path: Path) -> None:
    # The whole line plus --help: argparse (or Celery, for worker and beat) checks every
    # option, then prints help instead of running.
    argv = [str(PUBLISHER), *_resolved(shlex.split(line))[1:], "--help"]
    done = subprocess.run(
        argv,
        env=_clean_env(PUBLISHER_DATA_DIR=str(tmp_path)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{COMMAND_LINES[line]}: {line}\n{done.stdout}{done.stderr}"


def test_every_setting_named_is_one_the_package_reads() -> None:
    source = "\n".join(_read(p) for p in (ROOT / "publisher").rglob("*.py"))
    read = set(re.findall(r"[\"'](PUBLISHER_[A-Z0-9_]+)[\"']", source))
    assert read, "no PUBLISHER_* names found in the package"
    for path in _deploy_files():
        unknown = set(SETTING.findall(_read(path))) - read
        assert not unknown, f"{path.relative_to(ROOT)} names unknown settings: {sorted(unknown)}"


# The Procfile under honcho -----------------------------------------------------------


def _wait(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    honcho: subprocess.Popen[bytes],
    log: Path,
) -> T:
    """``probe()`` once it is not None; fails at the timeout, or at once if honcho exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and honcho.poll() is None:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.25)
    why = "timed out" if honcho.poll() is None else f"honcho exited {honcho.returncode}"
    tail = "\n".join(_read(log).splitlines()[-60:])
    raise AssertionError(f"waiting for {what}: {why} ({timeout}s); honcho output:\n{tail}")


def _get_json(url: str) -> Any | None:
    try:
        response = requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None
    return response.json() if response.ok else None


def _stop(honcho: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM honcho (it stops its processes); anything still alive later gets SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(honcho.pid, signal.SIGTERM)
    try:
        honcho.wait(timeout=30)
        return  # honcho waits for its processes (and kills stragglers) before it exits
    except subprocess.TimeoutExpired:
        pass
    # honcho starts each process in its own session: reach them by the pids it printed.
    pids = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", _read(log))]
    for pgid in [honcho.pid, *pids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    honcho.wait(timeout=10)


@pytest.mark.integration
def test_procfile_publishes_a_post_under_honcho(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "honcho.log"
    (tmp_path / "empty.env").touch()
    with RedisServer() as redis_server, Sandbox() as sandbox:
        env = _clean_env(
            PUBLISHER_REDIS_URL=redis_server.url,
            PUBLISHER_DATABASE_URL=f"sqlite:///{tmp_path / 'publisher.db'}",
            PUBLISHER_DATA_DIR=str(tmp_path / "data"),
            PUBLISHER_SECRET_KEY=Fernet.generate_key().decode(),
            PUBLISHER_SWEEP_INTERVAL="1",
            PUBLISHER_WEB_PORT=str(port),
            PORT=str(port),
            PUBLISHER_WORKER_CONCURRENCY="4",
            PYTHONUNBUFFERED="1",
        )
        # Given a migrated database (the Procfile leaves migrations to the operator)
        upgrade = [str(PUBLISHER), "db", "upgrade"]
        subprocess.run(upgrade, env=env, cwd=tmp_path, check=True, timeout=60)
        # When honcho starts the Procfile
        honcho_argv = [str(BIN / "honcho"), "-f", str(PROCFILE), "-e", "empty.env", "start"]
        with log.open("wb") as out:
            honcho = subprocess.Popen(
                [*honcho_argv, "-d", str(tmp_path)],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            api = f"http://127.0.0.1:{port}"
            _wait("the API", lambda: _get_json(api + "/healthz"), 30, honcho, log)
            # And the main app approves a post through the HTTP API
            text = f"hello from honcho {port}"
            post_id = _approved_post(api, sandbox.url + "/hooks/test", text)
            # Then the worker publishes it, exactly once
            post = _wait("the post", lambda: _final(api, post_id), 60, honcho, log)
            assert post["state"] == "done", post
            assert sandbox.create_count(text=text) == 1
            # And the watchdog, run as cron runs it, finds the pipeline healthy
            _wait("a healthy watchdog", lambda: _watchdog_ok(env, tmp_path), 30, honcho, log)
            assert honcho.poll() is None, "a Procfile process exited"
        finally:
            _stop(honcho, log)


def _approved_post(api: str, hook_url: str, text: str) -> int:
    def post(path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.post(api + path, json=body, timeout=10)
        assert response.ok, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    account = post("/v1/accounts", {"name": "honcho"})["id"]
    credential = post(
        f"/v1/accounts/{account}/credentials",
        {"provider": "webhook", "base_url": hook_url, "token": "tok-honcho"},
    )["id"]
    body = {"account_id": account, "credential_id": credential, "text": text}
    post_id: int = post("/v1/posts", body)["id"]
    post(f"/v1/posts/{post_id}/approve")
    return post_id


def _final(api: str, post_id: int) -> dict[str, Any] | None:
    post = _get_json(f"{api}/v1/posts/{post_id}")
    return post if post and post["state"] in {"done", "cancelled", "draft"} else None


def _watchdog_ok(env: dict[str, str], cwd: Path) -> bool | None:
    done = subprocess.run(
        [str(PUBLISHER), "watchdog"], env=env, cwd=cwd, capture_output=True, timeout=30
    )
    return True if done.returncode == 0 else None
