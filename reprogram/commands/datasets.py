"""`reprogram datasets upload | get | delete`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from reprogram.client import Client, Dataset
from reprogram.commands.exits import Exit, UsageError
from reprogram.commands.formatting import local_time, size
from reprogram.commands.output import plain, print_deleted, print_fields, print_json, print_one


def datasets_upload(client: Client, *, path: Path, as_json: bool) -> int:
    """Upload an image folder (zipped on the fly) or a zip/tar.gz archive."""
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}")
    dataset = client.datasets.upload(path)
    if as_json:
        print_json(plain(dataset))
        return Exit.OK
    print_fields(_dataset_fields(dataset))
    print(f'\nuse it in a job spec as  "dataset": {{"upload_id": "{dataset.id}"}}', file=sys.stderr)
    return Exit.OK


def datasets_get(client: Client, *, dataset_id: str, as_json: bool) -> int:
    """Print one uploaded dataset."""
    return print_one(client.datasets.get(dataset_id), fields=_dataset_fields, as_json=as_json)


def datasets_delete(client: Client, *, dataset_id: str, as_json: bool) -> int:
    """Delete an uploaded dataset (refused while a queued or running job uses it)."""
    client.datasets.delete(dataset_id)
    return print_deleted("dataset", dataset_id, as_json=as_json)


def _dataset_fields(dataset: Dataset) -> list[tuple[str, Any]]:
    """What `datasets get` and `datasets upload` show."""
    return [
        ("id", dataset.id), ("name", dataset.name),
        (f"classes ({len(dataset.classes)})", ", ".join(dataset.classes)),
        ("images", dataset.num_images), ("size", size(dataset.size_bytes)),
        ("created", local_time(dataset.created_at)),
    ]  # fmt: skip
