"""The posts list (issue 14): filters that combine, keyset pagination, the count of
matches, and every matching id in batches (for a bulk action on all that match).

Pages walk ``posts.id`` downwards (newest first) from the last id of the previous page,
so a page never repeats or skips a post when posts are created or change state between
two pages, and page 1,000 costs what page 1 costs. Every filter is a ``WHERE`` term on
``posts`` (the provider's through ``credentials``), so the count, the pages and the bulk
ids always agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from publisher.core.dashboard import text_search
from publisher.core.models import Credential, Post
from publisher.errors import InvalidInput

PAGE_SIZE = 50  # a screen of rows
MAX_PAGE_SIZE = 500  # bounds one page's query and render
BULK_BATCH = 1_000  # ids per batch of a bulk action: one short transaction each
SNIPPET = 200  # characters of a post's text a list row carries
# Fewer matches than this are read through the filter's own index and sorted, rather than
# found by walking every post newest first: a rare state of one network (none, say) made
# SQLite read the whole table, 455 ms beside a million posts, for an empty page. More
# matches are dense enough for the walk to fill a page within a few thousand rows.
SORT_BELOW = 20_000
UNCONFIRMED = "unconfirmed"  # the category a post returned to draft unconfirmed carries
_Row = TypeVarTuple("_Row")  # a query's columns, kept through the helpers


@dataclass(frozen=True)
class PostFilter:
    """Every field narrows the match; None (or empty) leaves it open."""

    states: frozenset[str] = frozenset()
    provider: str | None = None
    account_id: int | None = None
    credential_id: int | None = None
    error_category: str | None = None  # posts.last_error_category
    cancel_reason: str | None = None
    ambiguous: bool | None = None
    unconfirmed: bool | None = None  # waiting on lookups, or returned to draft for it
    scheduled_from: datetime | None = None  # scheduled_at >= this
    scheduled_to: datetime | None = None  # scheduled_at < this
    text: str | None = None  # a substring of the text, any case


@dataclass(frozen=True)
class PostRow:
    id: int
    state: str
    provider: str
    account_id: int
    credential_id: int
    scheduled_at: datetime | None
    published_at: datetime | None
    attempts: int
    ambiguous: bool
    last_error_category: str | None
    cancel_reason: str | None
    text: str  # the first SNIPPET characters


@dataclass(frozen=True)
class Page:
    rows: tuple[PostRow, ...]
    next_before: int | None  # pass as ``before`` for the next page; None: the last page


def _unconfirmed(wanted: bool) -> ColumnElement[bool]:
    """Waiting on lookups, or returned to draft as unconfirmed (or neither: written
    without NOT, which a NULL category would turn unknown and so exclude)."""
    if wanted:
        return or_(Post.unconfirmed_since.is_not(None), Post.last_error_category == UNCONFIRMED)
    return and_(
        Post.unconfirmed_since.is_(None), Post.last_error_category.is_distinct_from(UNCONFIRMED)
    )


def conditions(f: PostFilter, fts: bool = False) -> list[ColumnElement[bool]]:
    """The filter as ``WHERE`` terms on ``posts`` (all must hold); ``fts``: the text is
    searched through SQLite's FTS5 table (``text_search.indexed``), same answer, faster."""
    terms: list[ColumnElement[bool]] = []
    if f.states:
        terms.append(Post.state.in_(sorted(f.states)))
    if f.provider is not None:
        ids = select(Credential.id).where(Credential.provider == f.provider)
        terms.append(Post.credential_id.in_(ids.scalar_subquery()))
    equal = (
        (Post.account_id, f.account_id),
        (Post.credential_id, f.credential_id),
        (Post.last_error_category, f.error_category),
        (Post.cancel_reason, f.cancel_reason),
        (Post.ambiguous, f.ambiguous),
    )
    terms += [column == value for column, value in equal if value is not None]
    if f.unconfirmed is not None:
        terms.append(_unconfirmed(f.unconfirmed))
    if f.scheduled_from is not None:
        terms.append(Post.scheduled_at >= f.scheduled_from)
    if f.scheduled_to is not None:
        terms.append(Post.scheduled_at < f.scheduled_to)
    if f.text:
        terms.append(text_search.contains(f.text, fts))
    return terms


def _where(session: Session, f: PostFilter) -> list[ColumnElement[bool]]:
    """``conditions`` for this database (with the FTS5 table if it has one)."""
    return conditions(f, bool(f.text) and text_search.indexed(session))


def _driven(session: Session, f: PostFilter) -> bool:
    """Whether a walk in id order reads the FTS5 table's matches in its own order."""
    return f.text is not None and text_search.drives(session, f.text)


def _in_id_order(
    query: Select[*_Row],
    f: PostFilter,
    driven: bool,
    bound: int | None,
    newest_first: bool,
    few: bool = False,
) -> Select[*_Row]:
    """``query`` narrowed to ``f``, in id order from ``bound`` (exclusive). A text search
    the FTS5 table serves walks its matches in order, so a page stops at its last row
    instead of first collecting every match (a common word has hundreds of thousands).
    ``few`` matches are sorted (``id + 0`` keeps the database from walking the primary key
    for the order, so it reads them through the filter's index; asked for ids alone, that
    index covers the query, which SQLite's planner then prefers to a scan)."""
    if driven:
        assert f.text is not None
        query = text_search.walk(query.where(*conditions(f)), f.text, bound, newest_first)
    else:
        key = Post.id + 0 if few else Post.id
        query = query.where(*conditions(f)).order_by(key.desc() if newest_first else key)
    if bound is not None:
        query = query.where(Post.id < bound if newest_first else Post.id > bound)
    return query


def count(session: Session, f: PostFilter) -> int:
    """How many posts match (what a bulk action on the filter would touch)."""
    query = select(func.count()).select_from(Post).where(*_where(session, f))
    return session.execute(query).scalar_one()


def page(
    session: Session,
    f: PostFilter,
    before: int | None = None,
    size: int = PAGE_SIZE,
    matches: int | None = None,
) -> Page:
    """The ``size`` newest matching posts with an id below ``before`` (None: the newest);
    ``matches``, the filter's ``count`` if the caller has it, chooses how they are read."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput("size", f"a page holds 1 to {MAX_PAGE_SIZE} posts")
    query = (
        select(
            Post.id,
            Post.state,
            Credential.provider,
            Post.account_id,
            Post.credential_id,
            Post.scheduled_at,
            Post.published_at,
            Post.attempts,
            Post.ambiguous,
            Post.last_error_category,
            Post.cancel_reason,
            func.substr(Post.text, 1, SNIPPET).label("text"),
        )
        .join(Credential, Credential.id == Post.credential_id)
        .limit(size + 1)
    )
    driven = _driven(session, f)
    if not driven and matches is not None and matches < SORT_BELOW:
        ids = _in_id_order(select(Post.id).limit(size + 1), f, False, before, True, few=True)
        query = query.where(Post.id.in_(ids.scalar_subquery())).order_by(Post.id.desc())
    else:
        query = _in_id_order(query, f, driven, before, newest_first=True)
    found = [PostRow(**row._asdict()) for row in session.execute(query)]
    rows = tuple(found[:size])
    return Page(rows, rows[-1].id if len(found) > size else None)


def all_ids(
    session: Session, f: PostFilter, batch: int = BULK_BATCH, after: int = 0
) -> Iterator[list[int]]:
    """Every matching post's id above ``after``, ascending, in lists of at most ``batch``.
    Each batch is read afresh from after the last id, so posts acted on between batches
    are not seen twice; a post that starts matching behind the walk is not picked up."""
    driven = _driven(session, f)
    while True:
        query = _in_id_order(select(Post.id).limit(batch), f, driven, after, newest_first=False)
        ids = list(session.execute(query).scalars())
        if not ids:
            return
        yield ids
        after = ids[-1]
