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

from sqlalchemy import ColumnElement, and_, column, literal_column, select, table, text
from sqlalchemy.orm import Session

from publisher.core.models import TEXT_SEARCH_TABLE, Post

FTS_TABLE = TEXT_SEARCH_TABLE  # absent where the SQLite library lacks trigrams
MIN_INDEXED = 3  # characters: FTS5's trigram tokenizer matches nothing shorter
LIKE_ESCAPE = "\\"

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


def contains(query: str, fts: bool) -> ColumnElement[bool]:
    """Posts whose text holds ``query`` in any ASCII case; through the FTS5 table when
    ``fts`` (``indexed``) and the query is long enough to have a trigram."""
    like = Post.text.ilike(f"%{escape_like(query)}%", escape=LIKE_ESCAPE)
    if not fts or len(query) < MIN_INDEXED:
        return like
    match = literal_column(FTS_TABLE).op("MATCH")(fts_phrase(query))
    return and_(Post.id.in_(select(_fts.c.rowid).where(match)), like)
