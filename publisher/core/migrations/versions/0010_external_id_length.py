"""external id length: 1000 characters (a Bluesky part's id carries two at-URIs and CIDs)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("posts", "post_steps")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "external_id", type_=sa.String(length=1000), existing_type=sa.String(length=200)
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "external_id", type_=sa.String(length=200), existing_type=sa.String(length=1000)
            )
