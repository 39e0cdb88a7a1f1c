"""Session-wide fixtures: an isolated data directory and small real datasets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Caches and downloads for the whole test session, away from the user's own."""
    path = tmp_path_factory.mktemp("reprogram-data")
    previous = os.environ.get("REPROGRAM_DATA_DIR")
    os.environ["REPROGRAM_DATA_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("REPROGRAM_DATA_DIR", None)
    else:
        os.environ["REPROGRAM_DATA_DIR"] = previous
