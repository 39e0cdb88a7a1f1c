"""Run Alembic migrations from code (`reprogram db upgrade`, the embedded server, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from config.settings import get_settings


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations and at url (default: the settings')."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url or get_settings().sqlalchemy_url)
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at url up to `revision`."""
    command.upgrade(alembic_config(url), revision)
