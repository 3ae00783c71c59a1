"""The dashboard's templates and static files ship in the package (pyproject package-data):
a file added where no glob reaches would work from a checkout and be missing once installed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "publisher" / "web"


def test_every_template_and_static_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["publisher"]
    files = [p for d in ("templates", "static") for p in (WEB / d).rglob("*") if p.is_file()]
    assert files
    missing = [
        str(path.relative_to(ROOT)) for path in files if not any(_shipped(path, g) for g in globs)
    ]
    assert missing == []


def _shipped(path: Path, glob: str) -> bool:
    """``glob`` matches ``path`` as setuptools reads it: from the package, ``*`` within
    one directory."""
    relative = PurePosixPath(path.relative_to(ROOT / "publisher").as_posix())
    return len(relative.parts) == len(PurePosixPath(glob).parts) and relative.match(glob)


def test_the_vendored_libraries_keep_their_licences() -> None:
    vendor = WEB / "static" / "vendor"
    for library in ("htmx", "uPlot"):
        assert (vendor / f"{library}.LICENSE").read_text().strip()
