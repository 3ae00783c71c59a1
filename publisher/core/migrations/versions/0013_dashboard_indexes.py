"""The dashboard's time-range indexes: api_calls.started_at, post_events.at,
posts.published_at (its charts read one window of each)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 06:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_api_calls_started_at", "api_calls", "started_at"),
    ("ix_post_events_at", "post_events", "at"),
    ("ix_posts_published_at", "posts", "published_at"),
)


def upgrade() -> None:
    """On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction: a plain
    CREATE INDEX would block the workers' call-log writes for as long as it reads a
    table of millions of rows."""
    if op.get_bind().dialect.name != "postgresql":
        for name, table, column in INDEXES:
            op.create_index(name, table, [column], unique=False)
        return
    with op.get_context().autocommit_block():
        for name, table, column in INDEXES:
            # A build cut short leaves an INVALID index of that name: start it afresh.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.create_index(name, table, [column], unique=False, postgresql_concurrently=True)


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
