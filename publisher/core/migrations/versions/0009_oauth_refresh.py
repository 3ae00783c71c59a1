"""OAuth 2.0 credentials: refresh token, expiry, token endpoint, client, refresh lease

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from publisher.core.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = (
    ("refresh_token_encrypted", sa.Text()),
    ("expires_at", UTCDateTime()),
    ("token_url", sa.String(length=2000)),
    ("client_id", sa.String(length=500)),
    ("client_secret_encrypted", sa.Text()),
    ("last_refreshed_at", UTCDateTime()),
    ("last_error", sa.Text()),
    ("refresh_owner", sa.String(length=200)),
    ("refresh_until", UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
        batch_op.create_index("ix_credentials_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_credentials_expires_at")
        for name, _kind in reversed(COLUMNS):
            batch_op.drop_column(name)
