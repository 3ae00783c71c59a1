"""The layer rule of ``publisher/``, checked over the source with ``ast``.

Every ``import`` and ``from ... import`` in a module (at the top, inside functions and
under ``TYPE_CHECKING`` alike) is an edge from that module to the module it names. Two
rules hold over those edges:

- an edge never points up the ``LAYERS`` list (a layer imports its own modules and those
  of the layers below it), and an ``INDEPENDENT`` layer imports nothing outside itself;
- the edges between modules form no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Top to bottom. The first name of a module's path below ``publisher`` is its layer;
# the package itself (``publisher/__init__.py``) belongs to the top layer.
LAYERS: tuple[str, ...] = (
    "cli",  # the `publisher` command (and the package's lazy `app` for `celery -A publisher`)
    "demo",
    "sandbox",  # stand-in providers for the demo and the tests
    "ops",
    "api",
    "web",  # the dashboard, mounted by the api's app
    "engine",
    "core",
    "providers",
    "errors",
)
INDEPENDENT = frozenset({"sandbox"})
ROOT = "publisher"


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


def modules(package_dir: Path, root: str = ROOT) -> dict[str, Path]:
    """Every module under ``package_dir`` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([root, *parts])] = path
    return found


def edges(package_dir: Path, root: str = ROOT) -> list[Edge]:
    """Every import between modules of the package, resolved to the module it loads."""
    known = modules(package_dir, root)
    found = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        for target, line in _imports(tree, name, is_package):
            resolved = _resolve(target, known)
            if resolved is not None and resolved != name:
                found.append(Edge(name, resolved, line))
    return found


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            for alias in node.names:
                # `from a import b` loads a.b if b is a module, else only a.
                yield f"{base}.{alias.name}", node.lineno


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _resolve(target: str, known: Mapping[str, Path]) -> str | None:
    """The longest known module that ``target`` names or lies in, if any."""
    parts = target.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def layer_of(module: str, layers: Sequence[str] = LAYERS, root: str = ROOT) -> str:
    parts = module.split(".")
    if parts == [root]:
        return layers[0]
    if parts[0] != root or parts[1] not in layers:
        raise ValueError(f"{module} is in no layer: add it to LAYERS")
    return parts[1]


def violations(
    found: Sequence[Edge],
    layers: Sequence[str] = LAYERS,
    independent: frozenset[str] = INDEPENDENT,
    root: str = ROOT,
) -> list[str]:
    """One line per import that points up the layers or leaves an independent layer."""
    rank = {layer: index for index, layer in enumerate(layers)}
    problems = []
    for edge in found:
        here = layer_of(edge.importer, layers, root)
        there = layer_of(edge.imported, layers, root)
        if here == there:
            continue
        if here in independent:
            problems.append(f"{edge}: {here} is independent and may import only itself")
        elif rank[there] < rank[here]:
            problems.append(f"{edge}: {here} may not import {there}, a layer above it")
    return problems


def cycles(found: Sequence[Edge]) -> list[list[str]]:
    """The import cycles: each group of modules that all reach one another."""
    graph: dict[str, set[str]] = {}
    for edge in found:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    reach = {node: _reachable(graph, node) for node in graph}
    groups: list[list[str]] = []
    grouped: set[str] = set()
    for node in sorted(graph):
        if node in grouped or node not in reach[node]:
            continue
        group = sorted(other for other in reach[node] if node in reach[other])
        grouped.update(group)
        groups.append(group)
    return groups


def _reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen
