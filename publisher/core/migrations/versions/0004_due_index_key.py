"""due index keyed by (next_run_at, id): the sweep walks it by key

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DUE_WHERE = sa.text("state IN ('approved', 'retry')")


def _due_index(columns: list[str]) -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_due", sqlite_where=DUE_WHERE, postgresql_where=DUE_WHERE)
        batch_op.create_index(
            "ix_posts_due",
            columns,
            unique=False,
            sqlite_where=DUE_WHERE,
            postgresql_where=DUE_WHERE,
        )


def upgrade() -> None:
    # The index holds only due posts (a few thousand rows), so rebuilding it is quick.
    _due_index(["next_run_at", "id"])


def downgrade() -> None:
    _due_index(["next_run_at"])
