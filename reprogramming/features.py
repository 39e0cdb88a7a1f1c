"""Penultimate features of a frozen backbone, computed once and cached on disk."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from reprogramming.backbones.base import Backbone
from reprogramming.images import to_model_input
from reprogramming.runtime import autocast

FEATURES_VERSION = 1


def feature_key(*, backbone: Backbone, split_key: str, input_size: int, bf16: bool) -> str:
    """Cache key: backbone identity, dataset split, transform and precision."""
    text = json.dumps(
        {
            "v": FEATURES_VERSION,
            "backbone": backbone.identity,
            "data": split_key,
            "size": input_size,
            "bf16": bf16,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@torch.inference_mode()
def extract_features(
    backbone: Backbone,
    images: torch.Tensor,
    *,
    input_size: int,
    device: torch.device,
    bf16: bool,
    batch_size: int = 128,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """float32 features (N × num_features) of uint8 images, batched on the device."""
    backbone.eval()
    if len(images) == 0:
        return torch.empty(0, backbone.num_features)
    chunks = []
    for batch in images.split(batch_size):
        if should_stop is not None and should_stop():
            from reprogramming.errors import Cancelled

            raise Cancelled("cancelled while computing features")
        x = to_model_input(batch.to(device, non_blocking=True), input_size)
        with autocast(device, bf16):
            chunks.append(backbone.features(x).float().cpu())
    return torch.cat(chunks)


def cached_features(
    cache_dir: Path, key: str, compute: Callable[[], dict[str, torch.Tensor]]
) -> tuple[dict[str, torch.Tensor], bool]:
    """The features stored under key, computing and storing them on a miss; (features, hit)."""
    path = cache_dir / f"{key}.safetensors"
    if path.exists():
        try:
            return load_file(str(path)), True
        except Exception:  # a damaged cache entry is recomputed
            path.unlink(missing_ok=True)
    features = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in features.items()}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return features, False
