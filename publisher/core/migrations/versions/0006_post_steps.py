"""multi-step publishes: a post's parts, its confirmed steps, the step of each call

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parts", sa.JSON(), nullable=True))
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.String(length=40), nullable=True))
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "post_steps",
        sa.Column("id", id_type, nullable=False),
        sa.Column("post_id", id_type, nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("external_url", sa.String(length=2000), nullable=True),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_steps_post_id_posts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_steps")),
    )
    op.create_index("ux_post_steps_post_key", "post_steps", ["post_id", "key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_post_steps_post_key", table_name="post_steps")
    op.drop_table("post_steps")
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.drop_column("step")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("parts")
