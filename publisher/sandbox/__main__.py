"""Runs the sandbox in the foreground until SIGINT or SIGTERM (for the demo and manual tests):

python -m publisher.sandbox --port 8765 --fault-rate 0.2 --seed 7 --strict x mastodon

``--strict`` alone makes every provider kind strict; followed by kinds, only those.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from publisher.sandbox import KINDS, Sandbox
from publisher.sandbox.faults import DEFAULT_MIX, STRICT_MIX


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m publisher.sandbox",
        description="Fake Mastodon, X, webhook, Sentry and notification endpoints.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of creates faulted")
    parser.add_argument("--seed", type=int, default=None, help="makes random faults repeatable")
    parser.add_argument(
        "--faults",
        default=",".join(DEFAULT_MIX),
        help=f"comma-separated random fault mix (the strict soak's: {','.join(STRICT_MIX)})",
    )
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument(
        "--strict",
        nargs="*",
        choices=KINDS,
        metavar="KIND",
        default=None,
        help="behave like the real providers (no key replay, no duplicate 403): "
        f"the kinds listed, or all when none is ({', '.join(KINDS)})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def strict_of(kinds: list[str] | None) -> bool | list[str]:
    """``--strict`` absent: none strict; given alone: all; given with kinds: those."""
    if kinds is None:
        return False
    return kinds or True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sandbox = Sandbox(
        args.host,
        args.port,
        fault_rate=args.fault_rate,
        seed=args.seed,
        fault_mix=[name for name in args.faults.split(",") if name.strip()],
        slow_seconds=args.slow_seconds,
        strict=strict_of(args.strict),
    )
    with sandbox:
        logging.info("sandbox listening on %s (Sentry DSN %s)", sandbox.url, sandbox.sentry_dsn)
        if sandbox.strict:
            logging.info("strict: %s", ", ".join(sorted(sandbox.strict)))
        stop.wait()
    logging.info("sandbox stopped: %d calls, %d creates", len(sandbox.calls), len(sandbox.creates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
