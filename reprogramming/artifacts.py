"""Artifacts: what a job learned (safetensors) plus a JSON manifest, in one directory.

Loading reads only JSON and safetensors, so an artifact can never run code.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from reprogramming.backbones.base import Backbone
from reprogramming.errors import InvalidInputError
from reprogramming.hashing import file_sha256
from reprogramming.methods import ReprogrammedModel, build_model, method_spec

MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped the artifact."""
    import torchvision

    from reprogramming import __version__

    versions = {
        "reprogram": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    try:
        import timm

        versions["timm"] = timm.__version__
    except ImportError:
        pass
    return versions


def save_artifact(
    model: ReprogrammedModel,
    directory: Path,
    *,
    spec: dict[str, Any],
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    channels: int,
    dataset: dict[str, Any],
) -> dict[str, Any]:
    """Write the model's learned tensors and manifest into directory; return the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.learned_state().items()}
    save_file(state, str(directory / WEIGHTS))
    weights_sha = file_sha256(directory / WEIGHTS)
    manifest = {
        "format_version": FORMAT_VERSION,
        "artifact_id": weights_sha[:32],
        "method": model.method,
        "config": model.config(),
        "backbone": model.backbone.ref,
        "backbone_identity": model.backbone.identity,
        "input": {"size": model.input_size, "channels": channels, "resize": "fit_square"},
        "labels": model.labels,
        "metrics": metrics,
        "history": history,
        "dataset": dataset,
        "spec": spec,
        "seed": spec.get("hyperparameters", {}).get("seed", 0),
        "versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(),
        "files": {WEIGHTS: {"sha256": weights_sha, "bytes": (directory / WEIGHTS).stat().st_size}},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=float))
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of an artifact directory, checked for the fields loading needs."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise InvalidInputError(f"{directory} is not an artifact: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from exc
    missing = {"method", "config", "backbone", "labels", "input"} - set(manifest)
    if missing:
        raise InvalidInputError(f"{path} lacks {sorted(missing)}")
    return manifest


def restore_model(
    directory: Path, manifest: dict[str, Any], backbone: Backbone
) -> ReprogrammedModel:
    """The model an artifact's manifest describes, over `backbone`, with its learned tensors."""
    method = manifest["method"]
    model = build_model(method_spec(method, manifest["config"]), backbone, manifest["labels"])
    state = load_file(str(directory / WEIGHTS))
    result = model.load_state_dict(state, strict=False)
    expected = set(model.learned_state())
    missing = expected - set(state)
    if missing or result.unexpected_keys:
        raise InvalidInputError(
            f"{directory / WEIGHTS} does not match a {method} model: "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(result.unexpected_keys)[:5]}"
        )
    model.artifact_manifest = manifest
    return model.eval()
