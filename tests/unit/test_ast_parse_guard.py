"""The test process's ``ast.parse`` guard (tests/conftest.py): a garbage-collector
finalizer that parses during a parse must not break the outer one (CPython 3.11 raises
"AST constructor recursion depth mismatch" without the guard; seen as a flaky fuzz test)."""

from __future__ import annotations

import ast


class _ParsesWhenCollected:
    def __init__(self) -> None:
        self.cycle = self  # only the cyclic collector frees it

    def __del__(self) -> None:
        ast.parse("a + b[c]")


def test_a_finalizer_parsing_during_a_parse_leaves_it_intact() -> None:
    source = "\n".join(f"x{i} = [{i}, ({i}, {{'a': {i}}})]" for i in range(300))
    for _ in range(30):
        for _ in range(500):
            _ParsesWhenCollected()
        tree = ast.parse(source)
        assert len(tree.body) == 300
