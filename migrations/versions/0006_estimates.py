"""jobs carry time estimates: their shape, the predicted run time and finish, their pace

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("shape", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("family", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("estimated_seconds", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("estimated_finish_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("seconds_per_epoch", sa.Float(), nullable=True))
        batch.create_index("ix_jobs_shape", ["shape"])
        batch.create_index("ix_jobs_family", ["family"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_family")
        batch.drop_index("ix_jobs_shape")
        for column in (
            "seconds_per_epoch",
            "estimated_finish_at",
            "estimated_seconds",
            "family",
            "shape",
        ):
            batch.drop_column(column)
