"""An on-disk cache of decoded datasets, so later jobs never decode the same images again."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from safetensors.torch import load_file, save_file

from reprogramming.data.base import ImageSet, Source


def _save(path: Path, source: Source) -> None:
    tensors = {"train.images": source.train.images, "train.labels": source.train.labels}
    if source.test is not None:
        tensors |= {"test.images": source.test.images, "test.labels": source.test.labels}
    meta = {"classes": json.dumps(source.train.classes), "meta": json.dumps(source.meta)}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a concurrent reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: Path) -> Source:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    tensors = load_file(str(path))
    classes = json.loads(meta["classes"])
    train = ImageSet(tensors["train.images"], tensors["train.labels"], classes)
    test = None
    if "test.images" in tensors:
        test = ImageSet(tensors["test.images"], tensors["test.labels"], classes)
    return Source(train=train, test=test, meta=json.loads(meta["meta"]) | {"cache": "hit"})


def cached_source(cache_dir: Path, key: str, build: Callable[[], Source]) -> Source:
    """The decoded dataset under `key`, built and stored on the first call."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    path = cache_dir / f"{safe}.safetensors"
    if path.exists():
        try:
            return _load(path)
        except Exception:  # a corrupt cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    source = build()
    _save(path, source)
    source.meta["cache"] = "miss"
    return source
