"""reconciliation: rescue count, unconfirmed since, one remote post per post

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import publisher.core.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rescues", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column(
                "unconfirmed_since", publisher.core.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index(
            "ux_posts_credential_external_id", ["credential_id", "external_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ux_posts_credential_external_id")
        batch_op.drop_column("unconfirmed_since")
        batch_op.drop_column("rescues")
