"""docs/benchmarks.md is generated from the results' JSON: every figure comes from a
file, the code and load of every run are shown, and dirty or mixed runs are marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import docs

TEXTS = {
    "intro": "# Benchmarks\n\nHow to run.",
    "burst": "`bench/burst.py`. How the burst is measured.",
    "outro": "## Reading these results",
}


def result(name: str, **overrides: Any) -> dict[str, Any]:
    document = {
        "name": name,
        "file": f"bench/results/{name}.json",
        "at": "2026-12-01T10:00:00+00:00",
        "quick": False,
        "dirty": False,
        "code": {"commit": "abcdef0123456789", "dirty": False, "changes": []},
        "load": {"other_cores": 0.07, "ours_cores": 1.5, "capacity_cores": 2},
        "machine": {"cpus": 2, "cpu_model": "EPYC"},
        "versions": {"python": "3.11.7"},
        "params": {"posts": 100_000, "wall_seconds": 1400.2},
        "rows": [{"db": "postgres", "posts": 100_000, "sweep_messages": 15_000}],
        "tables": {"CPU ms per post": [{"side": "publisher", "worker": 12.5}]},
        "targets": [
            {
                "name": "postgres: publisher / bare",
                "goal": ">= 0.8x bare",
                "value": 0.8,
                "met": None,
                "note": "",
                "verdict": "inconclusive",
                "rounds": [0.79, 0.81, 0.8],
            }
        ],
        "extra": {},
    }
    return document | overrides


def test_every_figure_comes_from_the_results() -> None:
    text = docs.render([result("burst")], TEXTS)
    assert "| postgres | 100,000 | 15,000 |" in text  # the rows, as recorded
    assert "0.79 0.81 0.8" in text  # every round
    assert "**inconclusive**" in text
    assert "| publisher | 12.5 |" in text  # a sub-table
    assert "`abcdef0123`" in text and "0.07" in text  # the code and the load
    assert text.startswith(docs.HEADER)
    assert "How the burst is measured." in text and text.rstrip().endswith("results")


def test_a_dirty_run_is_marked() -> None:
    text = docs.render([result("burst", dirty=True)], TEXTS)
    assert "**DIRTY**" in text and "(DIRTY)" in text


def test_results_from_several_commits_say_so() -> None:
    other = result("memory", code={"commit": "9999999999aaaa", "dirty": False})
    text = docs.render([result("burst"), other], TEXTS)
    assert "come from 2 different commits" in text


def test_results_from_before_the_whole_tree_was_checked_say_what_was_known() -> None:
    old = result("burst", code={"commit": "a6b55b8", "publisher_dirty": False})
    del old["dirty"]
    assert docs.code_of(old) == ("a6b55b8", "publisher/ clean, rest unchecked")


def test_the_document_is_regenerated_from_the_files(tmp_path: Path) -> None:
    # Given a full result and a quick one
    (tmp_path / "quick").mkdir()
    (tmp_path / "burst.json").write_text(json.dumps(result("burst")))
    (tmp_path / "quick" / "burst.json").write_text(json.dumps(result("burst", quick=True)))
    doc = tmp_path / "benchmarks.md"
    # When the document is written twice
    docs.write(tmp_path, doc)
    first = doc.read_text()
    docs.write(tmp_path, doc)
    # Then it is the same, and built from the full results only
    assert doc.read_text() == first
    assert "bench/results/burst.json" in first
    assert "bench/results/quick/burst.json" not in first
    assert [d["file"] for d in docs.load(quick=True, folder=tmp_path)] == [
        "bench/results/quick/burst.json"
    ]


def test_the_goals_count_only_results_stamped_with_the_whole_tree() -> None:
    stamped = result("burst300", file="bench/results/burst300.json")
    stamped["targets"][0]["name"] = "postgres: publisher / bare posts/s"
    older = result("throughput", file="bench/results/throughput.json")
    del older["dirty"]
    text = docs._goals([stamped, older])
    assert "| postgres: publisher / bare posts/s | 0.8 | 0.79 0.81 0.8 | **inconclusive** |" in text
    assert "not measured yet (an older result, `throughput.json` at `abcdef0123`" in text
