"""The posts list's text search: posts whose text holds a substring, in any (ASCII) case,
read through migration 0014's index where there is one.

The answer is always the substring scan's (``lower(text) LIKE lower('%...%')`` on SQLite,
``ILIKE`` on PostgreSQL, with the query's ``%``, ``_`` and ``\\`` taken literally); the
index only decides how fast it comes:

- PostgreSQL: the ``ILIKE`` term as it is; the planner reads it from the pg_trgm GIN index.
- SQLite: the FTS5 trigram table narrows (the posts whose text holds the query's
  trigrams), and the ``LIKE`` term decides. The two can differ: FTS5 folds the case of
  every letter (É matches é), SQLite's ``lower`` and ``LIKE`` only ASCII's, so the index
  finds a superset and ``LIKE`` removes the extra. A query shorter than one trigram
  matches nothing in FTS5: it is scanned.
"""

from __future__ import annotations

from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, column, literal_column, select, table, text
from sqlalchemy.orm import Session

from publisher.core.models import TEXT_SEARCH_TABLE, Post

FTS_TABLE = TEXT_SEARCH_TABLE  # absent where the SQLite library lacks trigrams
MIN_INDEXED = 3  # characters: FTS5's trigram tokenizer matches nothing shorter
LIKE_ESCAPE = "\\"
_Row = TypeVarTuple("_Row")  # a query's columns, kept through the helpers

_fts = table(FTS_TABLE, column("rowid"))


def escape_like(value: str) -> str:
    """``value`` with LIKE's wildcards and escape character taken literally."""
    for char in (LIKE_ESCAPE, "%", "_"):
        value = value.replace(char, LIKE_ESCAPE + char)
    return value


def fts_phrase(value: str) -> str:
    """``value`` as one FTS5 string: whatever it holds (``AND``, ``NEAR``, ``*``, ``-``,
    ``"``, parentheses) is text to find, never query syntax."""
    return '"' + value.replace('"', '""') + '"'


def indexed(session: Session) -> bool:
    """Whether the FTS5 table is there to narrow a search (SQLite migrated with a library
    that has trigrams). PostgreSQL needs no different term: its planner picks the index."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"
    return session.execute(text(found), {"name": FTS_TABLE}).first() is not None


def drives(session: Session, query: str) -> bool:
    """Whether the FTS5 table can find ``query`` (``walk``): it is there, and the query
    holds a trigram."""
    return _indexable(query) and indexed(session)


def _indexable(query: str) -> bool:
    """At least one trigram, and no NUL (FTS5 reads a string only up to one)."""
    return len(query) >= MIN_INDEXED and "\x00" not in query


def contains(query: str, fts: bool) -> ColumnElement[bool]:
    """Posts whose text holds ``query`` in any ASCII case; narrowed through the FTS5
    table when ``fts`` (``indexed``) and the query holds a trigram."""
    like = Post.text.ilike(f"%{escape_like(query)}%", escape=LIKE_ESCAPE)
    if not fts or not _indexable(query):
        return like
    return and_(Post.id.in_(select(_fts.c.rowid).where(_match(query))), like)


def walk(
    select_posts: Select[*_Row], query: str, bound: int | None, newest_first: bool
) -> Select[*_Row]:
    """``select_posts`` (a query on posts that already holds ``contains(query, False)``,
    the term that decides) joined to the FTS5 matches of ``query`` and ordered by them,
    from ``bound`` (exclusive) down (``newest_first``) or up. SQLite then reads the
    matches in id order and stops with the statement's LIMIT, where an ``IN`` term
    (``contains``) collects every match first (``drives`` says when it applies)."""
    order = _fts.c.rowid.desc() if newest_first else _fts.c.rowid.asc()
    walked = select_posts.join(_fts, _fts.c.rowid == Post.id).where(_match(query))
    if bound is not None:  # the FTS5 table seeks to it, rather than skip up to it
        walked = walked.where(_fts.c.rowid < bound if newest_first else _fts.c.rowid > bound)
    return walked.order_by(order)


def _match(query: str) -> ColumnElement[bool]:
    return literal_column(FTS_TABLE).op("MATCH")(fts_phrase(query))
