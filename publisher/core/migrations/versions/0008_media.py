"""media: files a post may carry, uploaded to the blob store or fetched from a URL

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 02:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("alt", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("blob_key", sa.String(length=200), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_media_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    op.create_index(op.f("ix_media_account_id"), "media", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_media_account_id"), table_name="media")
    op.drop_table("media")
