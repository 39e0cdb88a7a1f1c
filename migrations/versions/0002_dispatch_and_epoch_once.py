"""jobs remember where and when they were sent; an epoch event is recorded once

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EPOCH_ONLY = sa.text("type = 'epoch'")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queue", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dispatches", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("redispatch_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_jobs_redispatch_at", ["redispatch_at"])
    # Older versions could record an epoch twice after a resume; keep the first of each.
    op.execute(
        "DELETE FROM events WHERE type = 'epoch' AND id NOT IN "
        "(SELECT MIN(id) FROM events WHERE type = 'epoch' GROUP BY job_id, epoch)"
    )
    op.create_index(
        "uq_events_job_epoch",
        "events",
        ["job_id", "epoch"],
        unique=True,
        postgresql_where=EPOCH_ONLY,
        sqlite_where=EPOCH_ONLY,
    )


def downgrade() -> None:
    op.drop_index("uq_events_job_epoch", table_name="events")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_redispatch_at")
        for column in ("redispatch_at", "dispatches", "dispatched_at", "queue"):
            batch.drop_column(column)
