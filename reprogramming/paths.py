"""Where the engine keeps downloads and caches."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(override: str | Path | None = None) -> Path:
    """The engine's data directory: the argument, $REPROGRAM_DATA_DIR, or ~/.cache/reprogram."""
    if override is not None:
        path = Path(override)
    elif os.environ.get("REPROGRAM_DATA_DIR"):
        path = Path(os.environ["REPROGRAM_DATA_DIR"])
    else:
        path = Path.home() / ".cache" / "reprogram"
    path.mkdir(parents=True, exist_ok=True)
    return path
