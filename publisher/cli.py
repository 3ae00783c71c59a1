"""The ``publisher`` command: database, web, engine processes and operator switches.

Every failure a user can cause (bad configuration, an unreachable database) ends in one
clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict

from publisher.core.settings import Settings
from publisher.demo import runner
from publisher.errors import PublisherError
from publisher.providers import PROVIDERS

log = logging.getLogger("publisher")

Handler = Callable[[argparse.Namespace, Settings], int]


def _db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from publisher.core import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    print(f"database at revision {db.current_revision(engine)}")
    return 0


def _web(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from publisher.api.app import create_app
    from publisher.engine.announce import announcer
    from publisher.ops import dashboard_probes, tasks

    app = create_app(
        settings,
        on_approved=announcer(settings, tasks.enqueue),
        probes=dashboard_probes.probes(settings),
    )
    uvicorn.run(
        app,
        host=args.host or settings.web_host,
        port=args.port or settings.web_port,
        log_level="info",
    )
    return 0


def _switch(args: argparse.Namespace, settings: Settings, on: bool) -> str:
    """Flip the kill switch the arguments name; returns what was done, for the operator."""
    from publisher.core import control, db, service
    from publisher.core.models import utcnow

    sessions = db.make_sessionmaker(db.make_engine(settings.database_url))
    now, verb = utcnow(), "paused" if on else "resumed"
    with db.transaction(sessions) as session:
        if args.credential is not None:
            control.set_credential_paused(session, args.credential, on, now, by="cli")
            return f"credential {args.credential} {verb}"
        if args.provider is not None:
            control.set_provider_paused(session, args.provider, on, now, by="cli")
            return f"provider {args.provider} {verb}"
        if args.account is not None:
            service.update_account(session, args.account, paused=on)
            return f"account {args.account} {verb} (a paused account's posts are cancelled)"
        if on:
            control.set_paused(session, True, now, by="cli")
            return "publishing paused: nothing is enqueued or published until `publisher resume`"
        control.resume(session, now, by="cli")
        return "publishing resumed"


def _pause(args: argparse.Namespace, settings: Settings) -> int:
    print(_switch(args, settings, True))
    return 0


def _resume(args: argparse.Namespace, settings: Settings) -> int:
    print(_switch(args, settings, False))
    return 0


def _add_scope(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--credential", type=int, metavar="ID", help="only this credential")
    scope.add_argument("--provider", choices=sorted(PROVIDERS), help="only this provider")
    scope.add_argument("--account", type=int, metavar="ID", help="only this account")
    return parser


def _rotate_keys(_args: argparse.Namespace, settings: Settings) -> int:
    from publisher.core import db, service
    from publisher.core.tokens import token_box

    sessions = db.make_sessionmaker(db.make_engine(settings.database_url))
    with db.transaction(sessions) as session:
        count = service.rotate_tokens(session, token_box(settings))
    print(f"re-encrypted {count} credential tokens with the first key of PUBLISHER_SECRET_KEY")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="publisher", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    database = commands.add_parser("db", help="database schema")
    db_commands = database.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="create or migrate the schema").set_defaults(
        handler=_db_upgrade
    )

    web = commands.add_parser("web", help="serve the HTTP API")
    web.add_argument("--host", default=None, help="default PUBLISHER_WEB_HOST or 127.0.0.1")
    web.add_argument("--port", type=int, default=None, help="default PUBLISHER_WEB_PORT or 8000")
    web.set_defaults(handler=_web)

    _add_scope(
        commands.add_parser("pause", help="stop publishing: all, or one credential/provider")
    ).set_defaults(handler=_pause)
    _add_scope(commands.add_parser("resume", help="lift a kill switch")).set_defaults(
        handler=_resume
    )
    commands.add_parser(
        "rotate-keys", help="re-encrypt every token with the first PUBLISHER_SECRET_KEY"
    ).set_defaults(handler=_rotate_keys)
    _add_engine_commands(commands)
    runner.register(commands)
    return parser


def _celery(role: str) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        from publisher.ops import supervisor

        argv: list[str] = args.celery_args
        celery_role = role
        if role == "worker":
            argv = supervisor.publish_worker_args(*argv)
        elif role == "control":
            celery_role, argv = "worker", supervisor.control_worker_args(*argv)
        os.execv(sys.executable, supervisor.celery_command(celery_role, *argv))
        return 0  # pragma: no cover - execv does not return

    return handler


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.ops.supervisor import Supervisor

    api = f"http://{settings.web_host}:{settings.web_port}"
    print(
        f"publisher: data in {settings.data_dir}; API on {api}, dashboard on {api}/dashboard"
        "  (Ctrl-C stops everything)"
    )
    return Supervisor(settings, concurrency=args.concurrency).run()


def _sweep(_args: argparse.Namespace, settings: Settings) -> int:
    from publisher.engine import sweep
    from publisher.engine.dependencies import Dependencies
    from publisher.ops import tasks

    report = sweep.run(Dependencies.build(settings, tasks.enqueue, tasks.backlog))
    print(json.dumps(asdict(report)))
    return 0


def _watchdog(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.engine import sweep
    from publisher.engine.dependencies import Dependencies
    from publisher.ops import tasks, watchdog

    if args.repair and not watchdog.check(settings).healthy:
        # Safe to run from cron every minute: it acts only when something is wrong.
        watchdog.restore_schedule()
        report = sweep.run(Dependencies.build(settings, tasks.enqueue, tasks.backlog))
        print(f"repaired: schedule entry restored; one sweep enqueued {report.enqueued} posts")
    health = watchdog.check(settings)
    if args.json:
        print(json.dumps(health.as_dict()))
    else:
        print(health.line())
    if health.healthy:
        return 0
    for problem in health.problems:
        print(f"publisher watchdog: {problem}", file=sys.stderr)
    watchdog.alert(settings, health)
    return 1


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from publisher.core import db, retention
    from publisher.core.models import utcnow
    from publisher.ops import retention_job

    sessions = db.make_sessionmaker(db.make_engine(settings.database_url))
    if args.dry_run:  # reads only: no lock needed
        policy = retention.Policy.from_settings(settings)
        report = asdict(retention.prune(sessions, policy, utcnow(), dry_run=True))
    else:
        client = redis.Redis.from_url(settings.redis_client_url, socket_timeout=5)
        owner = f"cli:{socket.gethostname()}:{os.getpid()}"
        try:
            report = retention_job.run(settings, sessions, client, owner, utcnow())
        except redis.RedisError as exc:  # no lock to take: a second prune is only wasteful
            print(
                f"publisher: Redis unavailable ({exc}); pruning without the lock", file=sys.stderr
            )
            policy = retention.Policy.from_settings(settings)
            report = asdict(retention.prune(sessions, policy, utcnow()))
    print(json.dumps(report))
    return 0


def _add_engine_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    roles = {
        "worker": "run a publishing worker (threads: PUBLISHER_WORKER_CONCURRENCY)",
        "control": "run the control worker: sweeps, rescues, notifications, prune",
        "beat": "run Celery beat, which schedules the sweep",
    }
    for role, summary in roles.items():
        # Every argument belongs to celery (`publisher worker --help` shows celery's help).
        sub = commands.add_parser(
            role, prefix_chars="+", add_help=False, help=f"{summary} (arguments go to celery)"
        )
        sub.add_argument("celery_args", nargs=argparse.REMAINDER)
        sub.set_defaults(handler=_celery(role))
    run = commands.add_parser("run", help="run everything: API, workers, beat (and Redis)")
    run.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="publish calls in flight (worker threads; default PUBLISHER_WORKER_CONCURRENCY)",
    )
    run.set_defaults(handler=_run)
    commands.add_parser("sweep", help="run one sweep now, without beat").set_defaults(
        handler=_sweep
    )
    prune = commands.add_parser(
        "prune", help="delete old rows of finished posts (PUBLISHER_RETAIN_*)"
    )
    prune.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    prune.set_defaults(handler=_prune)
    dog = commands.add_parser("watchdog", help="check that the sweep exists and runs (cron)")
    dog.add_argument(
        "--repair",
        action="store_true",
        help="when unhealthy: restore the schedule entry and run one sweep directly",
    )
    dog.add_argument("--json", action="store_true", help="print the facts as JSON")
    dog.set_defaults(handler=_watchdog)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        handler: Handler = args.handler
        return handler(args, settings)
    except PublisherError as exc:
        print(f"publisher: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the operator, details in the log
        if _is_database_error(exc):
            print(
                f"publisher: database error: {exc.__class__.__name__}: {exc}".splitlines()[0],
                file=sys.stderr,
            )
            return 3
        raise


def _is_database_error(exc: Exception) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError)


if __name__ == "__main__":
    sys.exit(main())
