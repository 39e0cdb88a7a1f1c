"""workers report themselves: kind, device, queues, current job, throughput

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), primary_key=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("device", sa.String(length=200), nullable=False),
        sa.Column("memory_gb", sa.Float(), nullable=False),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("jobs_done", sa.Integer(), nullable=False),
        sa.Column("busy_s", sa.Float(), nullable=False),
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_workers_last_seen", table_name="workers")
    op.drop_table("workers")
