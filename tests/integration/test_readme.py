"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from publisher.core import db
from publisher.core.models import Post
from publisher.core.settings import Settings
from publisher.core.states import State

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_block(section: str) -> str:
    text = README.read_text()
    start = text.index(f"## {section}\n")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no python block under '## {section}'"
    return match.group(1)


def test_the_python_api_example_creates_and_approves_a_post(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an upgraded database that the example's Settings.from_env() points at
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", url)
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", Fernet.generate_key().decode())
    engine = db.make_engine(Settings.from_env().database_url)
    db.upgrade(engine)

    # When the README's example runs as written
    exec(compile(_python_block("Python API"), str(README), "exec"), {})

    # Then its post is approved, with the text it gave
    with db.make_sessionmaker(engine)() as session:
        posts = session.scalars(select(Post)).all()
    engine.dispose()
    assert [(p.text, p.state) for p in posts] == [("Hello!", State.APPROVED.value)]
