"""``python -m bench [all|NAME|report] [--quick] [--db sqlite|postgres|both] [--allow-dirty]``.

``all`` runs every benchmark in its own process, one after the other, so a benchmark's
servers, workers and memory never leak into the next, then regenerates
``docs/benchmarks.md`` from the results (not after ``--quick``); a single name runs in
this process; ``report`` only regenerates the document (``report --quick`` prints the
quick results' rendering instead). A run on a tree with uncommitted changes is refused
unless ``--allow-dirty`` is given; its results then say ``"dirty": true``.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bench import DATABASES
from bench.errors import BenchError
from bench.provenance import Code, inspect, require_clean
from bench.report import RESULTS

LOCK_HELD = "BENCH_LOCK_HELD"  # set while a run holds the lock; inherited by `all`'s children

# name -> the databases it runs on unless --db says otherwise; `all` runs them in order
BENCHMARKS = {
    "throughput": DATABASES,
    "burst300": DATABASES,
    "lateness": DATABASES,
    "prefetch": ("postgres",),
    "sweep": DATABASES,
    "burst": ("postgres",),
    "memory": ("postgres",),
    "dbcost": DATABASES,
    "prune": DATABASES,
    "dashboard": DATABASES,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", nargs="?", default="all", choices=["all", "report", *BENCHMARKS])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few rounds; results/quick/"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], help="override")
    parser.add_argument("--posts", type=int, help="the main size (writes <name>-<posts>.json)")
    parser.add_argument(
        "--concurrency", type=int, help="worker threads (default: the deployed default)"
    )
    parser.add_argument("--latency", type=int, help="provider latency in ms, where it applies")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--seed", metavar="DIR", help="keep the seeded databases in DIR and reuse them (dashboard)"
    )
    parser.add_argument(
        "--allow-dirty", action="store_true", help="run on uncommitted changes (marked dirty)"
    )
    return parser


def _databases(name: str, choice: str | None) -> tuple[str, ...]:
    if choice is None:
        return BENCHMARKS[name]
    return DATABASES if choice == "both" else (choice,)


def tag_of(args: argparse.Namespace) -> str:
    """The suffix of a run at a size or latency of its own (it never overwrites the
    default run's results): ``100000``, ``l300``, ``100000-l300``."""
    parts = [str(args.posts)] if args.posts else []
    parts += [f"l{args.latency}"] if args.latency is not None else []
    return "-".join(parts)


def run_one(args: argparse.Namespace, code: Code) -> int:
    from bench.stack import Stack

    started = time.monotonic()
    with Stack(args.name, keep=args.keep) as stack:
        # Imported once the stack has set the environment: publisher.ops.celery_app reads it.
        module = importlib.import_module(f"bench.{args.name}")
        params = module.Params.of(args, _databases(args.name, args.db))
        report = module.run(stack, params)
        if args.keep:
            print(f"  work directory kept: {stack.workdir}")
    if hasattr(params, "concurrency"):  # what "the deployed default" was in this run
        from publisher.core.settings import Settings

        threads = params.concurrency or Settings.from_env().worker_concurrency
        report.params["worker_threads"] = threads
    report.params["wall_seconds"] = round(time.monotonic() - started, 1)
    report.finish(still(code), quick=args.quick, tag=tag_of(args))
    return 0 if all(t.met is not False for t in report.targets) else 1


def still(before: Code, after: Code | None = None) -> Code:
    """``before``, marked dirty if the tree changed while the benchmark ran (a commit or
    an edit during the run: the figures may mix two versions of the code)."""
    after = after or inspect()
    if after == before:
        return before
    changes = (*before.changes, f"changed during the run: now {after.commit[:10]}", *after.changes)
    return Code(before.commit, True, tuple(dict.fromkeys(changes)))


def run_all(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Each benchmark in a fresh interpreter; returns non-zero if any failed or missed."""
    flags = [a for a in argv if a != "all"]
    worst = 0
    started_all = time.monotonic()
    for name in BENCHMARKS:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "bench", name, *flags], check=False)
        print(f"[{name}: exit {done.returncode}, {time.monotonic() - started:.0f} s]")
        worst = max(worst, done.returncode)
    print(f"[all: {time.monotonic() - started_all:.0f} s]")
    report(args.quick)
    return worst


def report(quick: bool) -> None:
    from bench import docs

    if quick:
        print(docs.render(docs.load(quick=True), docs.templates()))
    else:
        path = docs.write()
        print(f"regenerated {path}")


class Busy(BenchError):
    """Another benchmark run holds bench/results/.lock: two runs at once would each count
    the other as load and skew every figure. Wait for it to end."""


@contextmanager
def exclusive() -> Iterator[None]:
    """One benchmark run on this checkout at a time (``all`` lends its lock to the
    benchmarks it starts)."""
    if os.environ.get(LOCK_HELD):
        yield
        return
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy() from None
        os.environ[LOCK_HELD] = "1"
        try:
            yield
        finally:
            del os.environ[LOCK_HELD]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.name == "report":
            report(args.quick)
            return 0
        code = require_clean(args.allow_dirty)
        if code.dirty:
            print(
                f"WARNING: running on a dirty tree ({len(code.changes)} changes); "
                "the results are marked dirty"
            )
        if args.name == "all":
            return run_all(args, argv)
        return run_one(args, code)
    except BenchError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
