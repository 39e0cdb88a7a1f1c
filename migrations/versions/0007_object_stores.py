"""an object's bytes may live in an S3-compatible store; the index says which

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("objects") as batch:
        batch.add_column(
            sa.Column("store", sa.String(length=20), nullable=False, server_default="database")
        )


def downgrade() -> None:
    with op.batch_alter_table("objects") as batch:
        batch.drop_column("store")
