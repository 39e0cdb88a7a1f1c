"""uploaded archives live in the database as content-addressed, chunked objects

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 22:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("key", sa.String(length=100), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "object_chunks",
        sa.Column(
            "key",
            sa.String(length=100),
            sa.ForeignKey("objects.key", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("object_key", sa.String(length=100), nullable=True))
        batch.create_foreign_key("fk_datasets_object_key", "objects", ["object_key"], ["key"])
        batch.create_index("ix_datasets_object_key", ["object_key"])
        batch.alter_column("path", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.alter_column("path", existing_type=sa.Text(), nullable=False)
        batch.drop_index("ix_datasets_object_key")
        batch.drop_constraint("fk_datasets_object_key", type_="foreignkey")
        batch.drop_column("object_key")
    op.drop_table("object_chunks")
    op.drop_table("objects")
