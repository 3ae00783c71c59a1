"""hardening: series end conditions, lateness limits, credential pause and concurrency

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import publisher.core.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_lateness", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "recurrence_until", publisher.core.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("recurrence_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("occurrence", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ux_posts_series_occurrence", ["series_id", "occurrence"], unique=True
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_lateness", sa.Float(), nullable=True))
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_in_flight", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("paused_at", publisher.core.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("paused_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("paused_by")
        batch_op.drop_column("paused_at")
        batch_op.drop_column("max_in_flight")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("max_lateness")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ux_posts_series_occurrence")
        batch_op.drop_column("occurrence")
        batch_op.drop_column("recurrence_count")
        batch_op.drop_column("recurrence_until")
        batch_op.drop_column("max_lateness")
