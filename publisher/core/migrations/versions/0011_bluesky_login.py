"""A credential's login: identifier, encrypted app password, DID (Bluesky's createSession)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = (
    ("identifier", sa.String(length=2048)),
    ("app_password_encrypted", sa.Text()),
    ("did", sa.String(length=2048)),
)


def upgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        for name, _kind in reversed(COLUMNS):
            batch_op.drop_column(name)
