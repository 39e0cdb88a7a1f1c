"""The migrations and the ORM models describe the same schema."""

from __future__ import annotations

from alembic import command

from db.migrate import alembic_config


def test_the_migrated_database_matches_the_models(database_url: str) -> None:
    # `alembic check` compares the migrated database with the ORM metadata and fails on any
    # difference: a column, index or constraint added to one and not the other.
    command.check(alembic_config(database_url))
