"""`reprogram models list | get | predict | export | delete`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reprogram.client import Client, Model
from reprogram.commands.exits import Exit, UsageError
from reprogram.commands.formatting import backbone_text, local_time, number, size
from reprogram.commands.output import (
    plain,
    print_deleted,
    print_fields,
    print_json,
    print_listing,
)


def models_list(client: Client, *, limit: int, as_json: bool) -> int:
    """Print your models, newest first (at most `limit`; 0 for all)."""
    headers = ("ID", "NAME", "METHOD", "BACKBONE", "LABELS", "TEST ACC", "JOB", "CREATED")

    def row(m: Model) -> tuple[Any, ...]:
        return (m.id, m.name or "-", m.method, backbone_text(m.backbone), str(len(m.labels)),
                number(m.metrics.get("test_accuracy")), m.job_id, local_time(m.created_at))  # fmt: skip

    return print_listing(client.models.list(), limit=limit, as_json=as_json, headers=headers,
                         row=row, empty="no models")  # fmt: skip


def models_get(client: Client, *, model_id: str, as_json: bool) -> int:
    """Print one model."""
    model = client.models.get(model_id)
    if as_json:
        print_json(plain(model))
        return Exit.OK
    shown = ", ".join(model.labels[:12]) + (", …" if len(model.labels) > 12 else "")
    metrics = model.metrics
    print_fields([
        ("id", model.id), ("name", model.name), ("job", model.job_id), ("method", model.method),
        ("backbone", backbone_text(model.backbone)),
        (f"labels ({len(model.labels)})", shown),
        ("test accuracy", number(metrics.get("test_accuracy"))),
        ("best val acc", number(metrics.get("best_val_accuracy"))),
        ("epochs", metrics.get("epochs")),
        ("artifact", size(model.artifact_bytes)), ("created", local_time(model.created_at)),
    ])  # fmt: skip
    return Exit.OK


def models_predict(
    client: Client, *, model_id: str, images: list[Path], top_k: int, as_json: bool
) -> int:
    """Print the top-k labels of each image, predicted by a model on the service."""
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        raise UsageError(f"no such image file: {', '.join(missing)}")
    results = client.models.predict(model_id, [str(p) for p in images], top_k=top_k)
    if as_json:
        print_json({
            "model_id": model_id,
            "predictions": [
                {"image": str(path), "top_k": [{"label": p.label, "score": p.score} for p in preds]}
                for path, preds in zip(images, results, strict=True)
            ],
        })  # fmt: skip
        return Exit.OK
    for path, preds in zip(images, results, strict=True):
        print(path)
        for p in preds:
            print(f"  {p.score:7.2%}  {p.label}")
    return Exit.OK


def models_export(
    client: Client, *, model_id: str, format: str, output: Path | None, as_json: bool
) -> int:
    """Save a model on the service as one portable file; say where."""
    target = output or Path(f"{model_id}{'.onnx' if format == 'onnx' else '.pt'}")
    client.models.export(model_id, target, format=format)
    if as_json:
        print_json({"model_id": model_id, "format": format, "path": str(target),
                    "bytes": target.stat().st_size})  # fmt: skip
    else:
        print(f"{format} model written to {target} ({size(target.stat().st_size)})")
    return Exit.OK


def models_delete(client: Client, *, model_id: str, as_json: bool) -> int:
    """Delete a model and its artifact (refused while another model or a running job uses it)."""
    client.models.delete(model_id)
    return print_deleted("model", model_id, as_json=as_json)
