"""The package's layers: imports point down, never up, and never in a cycle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import layers

PACKAGE = Path(__file__).resolve().parents[2] / "publisher"


def test_every_module_is_in_a_layer() -> None:
    for name in layers.modules(PACKAGE):
        layers.layer_of(name)  # raises for a module outside every layer


def test_no_import_points_up_the_layers() -> None:
    assert layers.violations(layers.edges(PACKAGE)) == []


def test_no_import_cycle() -> None:
    assert layers.cycles(layers.edges(PACKAGE)) == []


def test_the_check_sees_real_imports() -> None:
    """Guards the checker against passing by finding nothing."""
    found = {(edge.importer, edge.imported) for edge in layers.edges(PACKAGE)}
    assert ("publisher.engine.worker", "publisher.engine.lock") in found
    assert ("publisher.core.service.checks", "publisher.providers") in found
    assert ("publisher.cli", "publisher.api.app") in found  # an import inside a function
    assert ("publisher.ops.tasks", "publisher.engine.worker") in found


# The checker itself, on a small package written for each case.


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "publisher"
    for name, source in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(source)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # Given core importing the engine (upward), absolute and relative.
        (
            {"core/models.py": "from publisher.engine import sweep\n", "engine/sweep.py": ""},
            [
                "publisher.core.models -> publisher.engine.sweep (line 1): core may not import "
                "engine, a layer above it"
            ],
        ),
        (
            {"core/models.py": "from ..engine.sweep import run\n", "engine/sweep.py": ""},
            [
                "publisher.core.models -> publisher.engine.sweep (line 1): core may not import "
                "engine, a layer above it"
            ],
        ),
        # An upward import hidden in a function body counts too.
        (
            {"providers/x.py": "def f():\n    import publisher.core.db\n", "core/db.py": ""},
            [
                "publisher.providers.x -> publisher.core.db (line 2): providers may not import "
                "core, a layer above it"
            ],
        ),
        # The sandbox imports nothing outside itself, even from below.
        (
            {"sandbox/server.py": "from publisher.errors import PublisherError\n", "errors.py": ""},
            [
                "publisher.sandbox.server -> publisher.errors (line 1): sandbox is independent "
                "and may import only itself"
            ],
        ),
        # Downward imports are fine.
        (
            {"engine/worker.py": "from publisher.core import models\n", "core/models.py": ""},
            [],
        ),
    ],
)
def test_violations_are_reported(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    assert layers.violations(layers.edges(_package(tmp_path, files))) == expected


def test_a_cycle_is_reported(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "engine/a.py": "from publisher.engine import b\n",
            "engine/b.py": "def f():\n    from publisher.engine.c import g\n",
            "engine/c.py": "import publisher.engine.a\n",
            "engine/d.py": "from publisher.engine import a\n",
        },
    )
    assert layers.cycles(layers.edges(root)) == [
        ["publisher.engine.a", "publisher.engine.b", "publisher.engine.c"]
    ]


def test_a_module_outside_the_layers_is_refused(tmp_path: Path) -> None:
    root = _package(tmp_path, {"utils.py": ""})
    with pytest.raises(ValueError, match=r"publisher\.utils is in no layer"):
        for name in layers.modules(root):
            layers.layer_of(name)
