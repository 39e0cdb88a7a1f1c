"""sweeps: searches whose trials are jobs; Optuna's own tables live in a schema of their own

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("owner_id", sa.String(length=40),
                  sa.ForeignKey("owners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("best_job_id", sa.String(length=40), nullable=True),
        sa.Column("best_value", sa.Float(), nullable=True),
        sa.Column("model_id", sa.String(length=40), nullable=True),
        sa.Column("test_accuracy", sa.Float(), nullable=True),
    )  # fmt: skip
    op.create_index("ix_sweeps_status", "sweeps", ["status"])
    op.create_index("ix_sweeps_owner_created", "sweeps", ["owner_id", "created_at", "id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("trial", sa.Integer(), nullable=True))
        batch.create_index("ix_jobs_sweep_id", ["sweep_id"])
        batch.create_foreign_key("fk_jobs_sweep_id", "sweeps", ["sweep_id"], ["id"],
                                 ondelete="CASCADE")  # fmt: skip
    if op.get_bind().dialect.name == "postgresql":
        # Optuna's storage keeps an alembic_version table of its own: a schema keeps it apart.
        op.execute("CREATE SCHEMA IF NOT EXISTS optuna")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_sweep_id", type_="foreignkey")
        batch.drop_index("ix_jobs_sweep_id")
        batch.drop_column("trial")
        batch.drop_column("sweep_id")
    op.drop_index("ix_sweeps_owner_created", table_name="sweeps")
    op.drop_index("ix_sweeps_status", table_name="sweeps")
    op.drop_table("sweeps")
