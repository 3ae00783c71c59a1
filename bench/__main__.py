"""``python -m bench [all|NAME] [--quick] [--db sqlite|postgres|both]``.

``all`` runs every benchmark in its own process, one after the other, so a benchmark's
servers, workers and memory never leak into the next; a single name runs in this process.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from collections.abc import Sequence

from bench.stack import DATABASES

# name -> the databases it runs on unless --db says otherwise
BENCHMARKS = {
    "throughput": DATABASES,
    "lateness": ("postgres",),
    "sweep": DATABASES,
    "burst": ("postgres",),
    "memory": ("postgres",),
    "dbcost": DATABASES,
    "prune": DATABASES,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", nargs="?", default="all", choices=["all", *BENCHMARKS])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], help="override")
    parser.add_argument("--posts", type=int, help="the main size (writes <name>-<posts>.json)")
    parser.add_argument("--concurrency", type=int, default=4, help="prefork processes")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser


def _databases(name: str, choice: str | None) -> tuple[str, ...]:
    if choice is None:
        return BENCHMARKS[name]
    return DATABASES if choice == "both" else (choice,)


def run_one(args: argparse.Namespace) -> int:
    from bench.stack import Stack

    started = time.monotonic()
    with Stack(args.name, keep=args.keep) as stack:
        # Imported once the stack has set the environment: publisher.ops.celery_app reads it.
        module = importlib.import_module(f"bench.{args.name}")
        params = module.Params.of(
            args.quick, _databases(args.name, args.db), args.posts, args.concurrency
        )
        report = module.run(stack, params)
        if args.keep:
            print(f"  work directory kept: {stack.workdir}")
    report.params["wall_seconds"] = round(time.monotonic() - started, 1)
    # A run at a size of its own does not overwrite the default run's results.
    report.finish(tag=str(args.posts) if args.posts else "")
    return 0 if all(t.met is not False for t in report.targets) else 1


def run_all(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Each benchmark in a fresh interpreter; returns non-zero if any failed or missed."""
    flags = [a for a in argv if a != "all"]
    worst = 0
    for name in BENCHMARKS:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "bench", name, *flags], check=False)
        print(f"[{name}: exit {done.returncode}, {time.monotonic() - started:.0f} s]")
        worst = max(worst, done.returncode)
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.name == "all":
        return run_all(args, argv)
    return run_one(args)


if __name__ == "__main__":
    sys.exit(main())
