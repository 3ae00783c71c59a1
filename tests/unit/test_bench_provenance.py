"""The benchmarks' record of the code they measured: the whole tree's commit, and a
refusal to measure uncommitted changes unless asked (then the result says so)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench import __main__ as cli
from bench import provenance
from bench.provenance import Code, DirtyTree, changed, inspect, require_clean
from bench.report import QUICK, RESULTS, result_path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_git(porcelain: str, commit: str = COMMIT) -> provenance.Git:
    def git(args: Sequence[str]) -> str:
        return commit + "\n" if args[0] == "rev-parse" else porcelain

    return git


@pytest.mark.parametrize(
    ("porcelain", "kept"),
    [
        ("", ()),
        (" M publisher/engine/worker.py\n", (" M publisher/engine/worker.py",)),
        (" M bench/burst.py\n", (" M bench/burst.py",)),  # bench/ is part of what is measured
        (" M tests/support/pipeline.py\n", (" M tests/support/pipeline.py",)),
        ("?? bench/new.py\n", ("?? bench/new.py",)),  # untracked files count
        (" M bench/results/throughput.json\n", ()),  # the benchmarks' own output
        ("?? bench/results/quick/\n", ()),
        (" M docs/benchmarks.md\n", ()),  # generated from the results
        ("R  bench/a.py -> bench/b.py\n", ("R  bench/a.py -> bench/b.py",)),
    ],
)
def test_changes_are_the_whole_tree_but_the_outputs(porcelain: str, kept: tuple[str, ...]) -> None:
    assert changed(porcelain) == kept


def test_a_clean_tree_gives_its_full_commit() -> None:
    assert inspect(fake_git("")) == Code(COMMIT, False, ())


def test_a_dirty_tree_is_refused_with_the_changes_listed() -> None:
    with pytest.raises(DirtyTree) as refused:
        require_clean(False, fake_git(" M bench/stack.py\n"))
    assert "--allow-dirty" in str(refused.value)
    assert "bench/stack.py" in str(refused.value)


def test_allow_dirty_runs_and_marks_the_result_dirty() -> None:
    code = require_clean(True, fake_git(" M bench/stack.py\n"))
    assert code.dirty
    assert code.as_json() == {"commit": COMMIT, "dirty": True, "changes": [" M bench/stack.py"]}


def test_the_command_refuses_a_dirty_tree_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a dirty tree and a run_one that must not be reached
    monkeypatch.setattr(provenance, "_git", fake_git(" M publisher/cli.py\n"))
    monkeypatch.setattr(cli, "run_one", lambda *_: pytest.fail("a benchmark started"))
    # When a benchmark is asked for without --allow-dirty
    status = cli.main(["throughput", "--quick"])
    # Then it exits 2 with a clear message
    assert status == 2
    assert "uncommitted changes" in capsys.readouterr().err


def test_a_tree_that_changes_during_the_run_is_marked_dirty() -> None:
    before = Code(COMMIT, False, ())
    assert cli.still(before, Code(COMMIT, False, ())) == before
    after = cli.still(before, Code("f" * 40, False, ()))
    assert after.dirty and after.commit == COMMIT
    assert any("changed during the run" in line for line in after.changes)


def test_quick_results_never_land_on_the_full_ones() -> None:
    assert result_path("burst") == RESULTS / "burst.json"
    assert result_path("burst", quick=True) == QUICK / "burst.json"
    assert result_path("burst", "100000", quick=True) == QUICK / "burst-100000.json"
    assert result_path("burst", "100000").parent == RESULTS


@pytest.mark.parametrize(
    ("argv", "tag"),
    [
        ([], ""),
        (["--posts", "100000"], "100000"),
        (["--latency", "300"], "l300"),
        (["--posts", "500", "--latency", "0"], "500-l0"),
    ],
)
def test_a_run_at_its_own_size_gets_its_own_file(argv: list[str], tag: str) -> None:
    assert cli.tag_of(cli._parser().parse_args(["burst", *argv])) == tag


def test_a_second_run_at_once_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given another run holding the lock
    monkeypatch.setattr(cli, "RESULTS", tmp_path)
    monkeypatch.delenv(cli.LOCK_HELD, raising=False)
    with open(tmp_path / ".lock", "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # When this one starts, then it is refused
        with pytest.raises(cli.Busy), cli.exclusive():
            pytest.fail("ran beside another run")
    # And once the other run ended, it runs
    with cli.exclusive():
        assert os.environ[cli.LOCK_HELD] == "1"
    assert cli.LOCK_HELD not in os.environ
