"""The dashboard's indexes: api_calls.started_at, post_events.at, posts.published_at (its
charts read one window of each), and posts (credential_id, state, id) in place of
posts.credential_id (its lists count and page a network's posts from the index alone)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 06:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_api_calls_started_at", "api_calls", ("started_at",)),
    ("ix_post_events_at", "post_events", ("at",)),
    ("ix_posts_published_at", "posts", ("published_at",)),
    ("ix_posts_credential_state", "posts", ("credential_id", "state", "id")),
)
# Served by ix_posts_credential_state, whose first column it is.
REPLACED = ("ix_posts_credential_id", "posts", ("credential_id",))


def upgrade() -> None:
    """On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction: a plain
    CREATE INDEX would block the workers' writes for as long as it reads a table of
    millions of rows. The replaced index goes only once its successor exists."""
    if op.get_bind().dialect.name != "postgresql":
        for name, table, columns in INDEXES:
            op.create_index(name, table, list(columns), unique=False)
        op.drop_index(REPLACED[0], table_name=REPLACED[1])
        return
    with op.get_context().autocommit_block():
        for name, table, columns in INDEXES:
            # A build cut short leaves an INVALID index of that name: start it afresh.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.create_index(name, table, list(columns), unique=False, postgresql_concurrently=True)
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {REPLACED[0]}")


def downgrade() -> None:
    name, table, columns = REPLACED
    op.create_index(name, table, list(columns), unique=False)
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
