"""The posts list's text search through migration 0014's index (``core.dashboard.
text_search``) on SQLite and PostgreSQL: the same posts as the substring scan, whatever
the query holds, after edits and deletions too; the index is used; where it cannot be
built the migration still succeeds and the search is still right.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy import Engine, Select, delete, inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import db, retention, service
from publisher.core.dashboard import post_search, text_search
from publisher.core.dashboard.post_search import PostFilter
from publisher.core.models import TEXT_SEARCH_INDEX, Post, utcnow
from tests.conftest import SQLITE_ONLY
from tests.support.dashboard_rows import credential, post
from tests.support.services import PostgresServer

TEXTS = (
    "Hello World",
    "hello world again",
    "HELLO there",
    "50% off_sale today",
    "100%_sure",
    "back\\slash and C:\\path",
    'she said "hi" and left',
    'a "quoted AND" phrase',
    "cats AND dogs",
    "near NEAR(a b) far",
    "star* wildcard",
    "minus -sign and x - y",
    "column: text:value",
    "(parens) ^caret",
    "café au lait",
    "CAFÉ NOIR",
    "Straße in München",
    "日本語のテキスト",
    "\uff21\uff22\uff23 fullwidth"  # fullwidth ABC: FTS5 folds it, LIKE does not,
    "ab",
    "x",
)
DAY = timedelta(days=1)
QUERIES = (
    "hello",
    "HELLO WORLD",
    "lo wo",
    "%",
    "50%",
    "_",
    "off_s",
    "%_",
    "\\",
    "back\\sl",
    "C:\\p",
    '"',
    '"hi"',
    'said "hi',
    '"quoted AND"',
    "AND",
    "cats AND dogs",
    "cats dogs",
    "NEAR",
    "NEAR(a b)",
    "*",
    "star*",
    "sta*",
    "-",
    "-sign",
    "x - y",
    "text:",
    "column:",
    "(parens)",
    "^caret",
    "^",
    "café",
    "CAFÉ",
    "Café",
    "afé",
    "AFÉ",
    "straße",
    "STRASSE",
    "münchen",
    "MÜNCHEN",
    "日本語",
    "本語",
    "\uff41\uff42\uff43",  # fullwidth abc
    "\uff21\uff22\uff23",
    "a",
    "ab",
    "AB",
    "é",
    "lo",
    "zzz",
    "hello world again and more",
)


def ascii_fold(value: str) -> str:
    """What the scan folds: SQLite's ``lower`` and LIKE (and PostgreSQL's ILIKE in the
    tests' C locale) fold ASCII letters only."""
    return value.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})


def expected(rows: dict[int, str], query: str) -> list[int]:
    """The ids whose text holds ``query`` (ASCII case folded), newest first."""
    return sorted((i for i, t in rows.items() if ascii_fold(query) in ascii_fold(t)), reverse=True)


def found(session: Session, query: str) -> list[int]:
    page = post_search.page(session, PostFilter(text=query), size=post_search.MAX_PAGE_SIZE)
    assert page.next_before is None
    return [row.id for row in page.rows]


def scanned(session: Session, query: str) -> list[int]:
    """The substring scan, without the index: what the search answered before 0014."""
    where = post_search.conditions(PostFilter(text=query), fts=False)
    return list(session.execute(select(Post.id).where(*where).order_by(Post.id.desc())).scalars())


def seed(session: Session, texts: tuple[str, ...] = TEXTS) -> dict[int, str]:
    creds = [credential(session, "mastodon"), credential(session, "x")]
    return {post(session, creds[i % 2], text=t): t for i, t in enumerate(texts)}


def assert_exact(session: Session, rows: dict[int, str]) -> None:
    for query in QUERIES:
        want = expected(rows, query)
        assert found(session, query) == want, query
        assert scanned(session, query) == want, query
        assert post_search.count(session, PostFilter(text=query)) == len(want), query
        assert paged(session, query) == want, query
        walked = post_search.all_ids(session, PostFilter(text=query), batch=2)
        assert [i for ids in walked for i in ids] == sorted(want), query


def paged(session: Session, query: str) -> list[int]:
    """Every match, two a page: each page goes on from the last one's last id."""
    ids: list[int] = []
    before = None
    while True:
        page = post_search.page(session, PostFilter(text=query), before=before, size=2)
        ids += [row.id for row in page.rows]
        if page.next_before is None:
            return ids
        before = page.next_before


@pytest.fixture
def rows(sessions: sessionmaker[Session]) -> dict[int, str]:
    with sessions.begin() as session:
        return seed(session)


def test_search_answers_what_the_scan_answers(
    sessions: sessionmaker[Session], rows: dict[int, str]
) -> None:
    # Given posts whose texts hold wildcards, quotes, FTS5 syntax and non-ASCII letters
    with sessions() as session:
        # Then every query finds exactly the posts holding it, in any ASCII case
        assert_exact(session, rows)
        # And the queries did go through the index on SQLite
        assert text_search.indexed(session) == (db.is_postgresql(session) is False)


def test_edits_and_deletions_keep_the_index_in_step(
    sessions: sessionmaker[Session], rows: dict[int, str]
) -> None:
    # Given a draft, edited through the service (its text changes)
    with sessions.begin() as session:
        owner = credential(session, "mastodon")
        draft = post(session, owner, text="draft first words", state="draft")
        rows[draft] = "draft first words"
    with sessions.begin() as session:
        service.edit_post(session, draft, utcnow(), text="Edited Later Words")
        rows[draft] = "Edited Later Words"
    # And posts edited and deleted with plain statements (as any other writer would)
    hello, cafe = (i for i, t in rows.items() if t in ("Hello World", "café au lait"))
    with sessions.begin() as session:
        session.execute(update(Post).where(Post.id == hello).values(text="goodbye world"))
        session.execute(delete(Post).where(Post.id == cafe))
        rows[hello] = "goodbye world"
        del rows[cafe]
    # Then the search finds the new texts and no longer the old ones
    with sessions() as session:
        assert found(session, "first words") == []
        assert found(session, "later words") == [draft]
        assert found(session, "goodbye") == [hello]
        assert found(session, "au lait") == []
        assert_exact(session, rows)
        assert_integrity(session)


def test_retention_deleting_posts_keeps_the_index_in_step(
    sessions: sessionmaker[Session], rows: dict[int, str]
) -> None:
    # Given finished posts older than the posts' retention, among newer ones
    now = utcnow()
    old = [i for i, t in rows.items() if "hello" in t.lower()]
    with sessions.begin() as session:
        session.execute(update(Post).values(updated_at=now))
        aged = {"created_at": now - 9 * DAY, "updated_at": now - 9 * DAY}
        session.execute(update(Post).where(Post.id.in_(old)).values(**aged))
    # When retention prunes old posts
    policy = retention.Policy(calls=None, events=None, notifications=None, posts=DAY, batch=2)
    report = retention.prune(sessions, policy, now)
    # Then they are gone from the search as from the table, and the rest still found
    assert report.deleted["posts"] == len(old)
    for gone in old:
        del rows[gone]
    with sessions() as session:
        assert found(session, "hello") == []
        assert_exact(session, rows)
        assert_integrity(session)


def literal(session: Session, query: Select[Any]) -> str:
    """``query`` as SQL with its values written in (for EXPLAIN)."""
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    return str(compiled).replace("%%", "%")


def assert_integrity(session: Session) -> None:
    """SQLite: FTS5's own check that the index holds exactly what posts holds."""
    if text_search.indexed(session):
        check = "INSERT INTO posts_fts(posts_fts, rank) VALUES ('integrity-check', 1)"
        session.execute(text(check))


@SQLITE_ONLY
def test_sqlite_search_reads_the_fts_table(
    sessions: sessionmaker[Session], rows: dict[int, str]
) -> None:
    with sessions() as session:
        where = post_search.conditions(PostFilter(text="hello"), fts=True)
        query = select(Post.id).where(*where).order_by(Post.id.desc()).limit(51)
        plan = session.execute(text(f"EXPLAIN QUERY PLAN {literal(session, query)}")).all()
        assert any("VIRTUAL TABLE INDEX" in str(step) for step in plan), plan
        # A page reads the matches in id order from the FTS5 table and stops at its end:
        # no sort of every match first
        where = post_search.conditions(PostFilter(text="hello"))
        walk = text_search.walk(select(Post.id).where(*where).limit(51), "hello", 99, True)
        plan = session.execute(text(f"EXPLAIN QUERY PLAN {literal(session, walk)}")).all()
        assert "posts_fts VIRTUAL TABLE" in str(plan[0]) and "TEMP B-TREE" not in str(plan), plan
        # A query shorter than a trigram is scanned: FTS5 would find nothing
        short = post_search.conditions(PostFilter(text="lo"), fts=True)
        assert text_search.FTS_TABLE not in str(select(Post.id).where(*short))


@SQLITE_ONLY
def test_a_nul_in_the_query_is_scanned_not_an_error(
    sessions: sessionmaker[Session], rows: dict[int, str]
) -> None:
    # FTS5 would call the quoted string unterminated; the scan answers as it always did
    with sessions() as session:
        for query in ("hel\x00lo", "\x00hello"):
            assert found(session, query) == scanned(session, query)
            assert post_search.count(session, PostFilter(text=query)) == len(found(session, query))


@SQLITE_ONLY
def test_triggers_stand_at_head(engine: Engine) -> None:
    """A later migration that rebuilds posts (Alembic's batch mode) drops its triggers:
    this fails until it creates them again."""
    with engine.connect() as connection:
        found_names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'posts'")
        ).scalars()
        assert {"posts_fts_insert", "posts_fts_update", "posts_fts_delete"} <= set(found_names)


def test_the_migration_indexes_existing_posts_and_goes_down(database_url: str) -> None:
    with engine_of(database_url) as engine:
        # Given posts written before 0014
        db.upgrade(engine, "0013")
        sessions = db.make_sessionmaker(engine)
        with sessions.begin() as session:
            rows = seed(session)
        # When 0014 runs
        db.upgrade(engine, "0014")
        # Then they are found through the index, and the index is what it should be
        with sessions() as session:
            assert_exact(session, rows)
            assert_integrity(session)
        assert_index(engine, present=True)
        # And down again, nothing of it is left, and posts are still written and found
        command.downgrade(db.alembic_config(engine), "0013")
        assert_index(engine, present=False)
        with sessions.begin() as session:
            rows |= seed(session, ("written after the downgrade",))
        with sessions() as session:
            assert found(session, "after the down") == [max(rows)]


def assert_index(engine: Engine, present: bool) -> None:
    inspector = inspect(engine)
    if engine.dialect.name == "postgresql":
        names = {ix["name"] for ix in inspector.get_indexes("posts")}
        assert (TEXT_SEARCH_INDEX in names) == present
        return
    assert (text_search.FTS_TABLE in inspector.get_table_names()) == present


@SQLITE_ONLY
def test_sqlite_without_trigrams_migrates_and_scans(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a SQLite library older than the trigram tokenizer
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    assert_migrates_without_index(database_url, caplog, "no FTS5 trigram tokenizer")


@pytest.mark.postgres
def test_postgresql_without_pg_trgm_rights_migrates_and_scans(
    postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a role that may create tables but not extensions (not the database's owner)
    with owned_database(postgres, "trgm_tenant", owner=False) as url:
        assert_migrates_without_index(url, caplog, "pg_trgm cannot be installed")


def assert_migrates_without_index(url: str, caplog: pytest.LogCaptureFixture, says: str) -> None:
    with engine_of(url) as engine:
        # When the schema is migrated
        with caplog.at_level(logging.WARNING, logger="publisher.migrations"):
            db.upgrade(engine)
        # Then it reaches head with a warning, and without the index
        assert db.current_revision(engine) == db.head_revision(engine)
        assert says in caplog.text
        assert_index(engine, present=False)
        # And the search is still right (a scan)
        sessions = db.make_sessionmaker(engine)
        with sessions.begin() as session:
            rows = seed(session)
        with sessions() as session:
            assert not text_search.indexed(session)
            assert_exact(session, rows)


@pytest.mark.postgres
def test_postgresql_search_reads_the_trigram_index(postgres: PostgresServer) -> None:
    with owned_database(postgres, "trgm_owner", owner=True) as url, engine_of(url) as engine:
        db.upgrade(engine)
        assert_index(engine, present=True)
        with db.make_sessionmaker(engine)() as session:
            seed(session)
            session.execute(text("SET enable_seqscan = off"))  # a tiny table: force it
            where = post_search.conditions(PostFilter(text="hello"))
            query = literal(session, select(Post.id).where(*where))
            plan = session.execute(text(f"EXPLAIN {query}")).scalars()
            assert any(TEXT_SEARCH_INDEX in line for line in plan)


@contextmanager
def engine_of(url: str) -> Iterator[Engine]:
    engine = db.make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def owned_database(postgres: PostgresServer, role: str, owner: bool) -> Iterator[str]:
    """A database and the URL of a login ``role`` that may create tables in it: as its
    owner (so may install a trusted extension), or only with rights on its schema."""
    name = f"{role}_{os.getpid()}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        create = sql.SQL("CREATE DATABASE {} OWNER {}")
        conn.execute(
            create.format(sql.Identifier(name), sql.Identifier(role if owner else "postgres"))
        )
    with psycopg.connect(postgres.url_for(name), autocommit=True) as conn:
        grant = sql.SQL("GRANT ALL ON SCHEMA public TO {}")
        conn.execute(grant.format(sql.Identifier(role)))
    try:
        yield f"postgresql://{role}@{postgres.host}:{postgres.port}/{name}"
    finally:
        postgres.drop_database(name)
        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
