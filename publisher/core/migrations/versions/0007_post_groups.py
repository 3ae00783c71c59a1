"""post groups: posts created, approved and cancelled as one, one per credential

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import publisher.core.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "post_groups",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", publisher.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", publisher.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_post_groups_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_groups")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_post_groups_idempotency_key")),
    )
    op.create_index(op.f("ix_post_groups_account_id"), "post_groups", ["account_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        # In place: a batch copy of ``posts`` would drop the old table, which SQLite
        # refuses (foreign keys on) while history or call-log rows refer to its posts.
        op.execute(
            "ALTER TABLE posts ADD COLUMN group_id INTEGER "
            "CONSTRAINT fk_posts_group_id_post_groups REFERENCES post_groups (id)"
        )
    else:
        op.add_column("posts", sa.Column("group_id", ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_posts_group_id_post_groups"), "posts", "post_groups", ["group_id"], ["id"]
        )
    op.create_index(op.f("ix_posts_group_id"), "posts", ["group_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_posts_group_id"), table_name="posts")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        if op.get_bind().dialect.name != "sqlite":  # SQLite's copy leaves the reference out
            batch_op.drop_constraint(
                batch_op.f("fk_posts_group_id_post_groups"), type_="foreignkey"
            )
        batch_op.drop_column("group_id")
    op.drop_index(op.f("ix_post_groups_account_id"), table_name="post_groups")
    op.drop_table("post_groups")
