"""Export a trained model as one portable file: ONNX or TorchScript, labels in its metadata.

The file holds the whole reprogrammed model — backbone, program or head, label mapping and the
final softmax — so ONNX Runtime, Triton or `torch.jit.load` can serve it with no Reprogram code.
Its input is `images`: float32 NCHW RGB in [0, 1] at the model's input size (a grayscale image
repeated into the three channels); its output is `probabilities` over the labels, in order.
The labels and that description ride along: ONNX `metadata_props` keys `labels` and
`reprogram`, TorchScript extra files `labels.json` and `reprogram.json`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from reprogramming.factory import ModelResolver, load_model

ExportFormat = Literal["onnx", "torchscript"]
FORMATS: tuple[ExportFormat, ...] = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
ONNX_OPSET = 18


class Portable(nn.Module):
    """A trained model ending in its softmax: [0, 1] RGB images → class probabilities."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images).float().softmax(1)


def describe(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a user of the exported file needs besides the labels: input, output, provenance."""
    size = int(manifest["input"]["size"])
    channels = int(manifest["input"].get("channels", 3))
    return {
        "input": {
            "name": "images",
            "shape": ["batch", 3, size, size],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "color": "RGB" if channels == 3 else "grayscale, repeated into 3 channels",
            "resize": "shorter side to the size, then a centre square crop (bilinear)",
        },
        "output": {"name": "probabilities", "shape": ["batch", len(manifest["labels"])]},
        "method": manifest["method"],
        "backbone": manifest["backbone"],
        "artifact_id": manifest.get("artifact_id"),
        "metrics": {k: v for k, v in manifest.get("metrics", {}).items() if "accuracy" in k},
    }


def export_model(
    directory: Path,
    destination: Path,
    *,
    format: ExportFormat,
    resolve_model: ModelResolver | None = None,
) -> Path:
    """Write the artifact in `directory` as one portable file at `destination` (atomically)."""
    if format not in FORMATS:
        raise ValueError(f"format is one of {list(FORMATS)}, not {format!r}")
    model = load_model(Path(directory), resolve_model=resolve_model)
    manifest = model.artifact_manifest
    portable = Portable(model).eval()
    example = torch.rand(2, 3, model.input_size, model.input_size)
    labels = json.dumps(list(model.labels))
    details = json.dumps(describe(manifest), default=str)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}-")
    os.close(handle)
    try:
        if format == "onnx":
            _write_onnx(portable, example, Path(staging), {"labels": labels, "reprogram": details})
        else:
            _write_torchscript(
                portable, example, Path(staging), {"labels.json": labels, "reprogram.json": details}
            )
        os.chmod(staging, 0o644)
        os.replace(staging, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
    return destination


def _write_onnx(
    portable: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, str]
) -> None:
    import onnx

    batch = torch.export.Dim("batch", min=1, max=65536)
    # The exporter reports each stage on stdout; a server's output is for its own log lines.
    with contextlib.redirect_stdout(io.StringIO()), torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            portable, (example,), input_names=["images"], output_names=["probabilities"],
            dynamic_shapes={"images": {0: batch}}, opset_version=ONNX_OPSET, dynamo=True,
            external_data=False,
        )  # fmt: skip
    assert program is not None
    proto = program.model_proto
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save_model(proto, str(path))


def _write_torchscript(
    portable: nn.Module, example: torch.Tensor, path: Path, extra: dict[str, str]
) -> None:
    # TorchScript is deprecated in favour of torch.export, but `torch.jit.load` is what many
    # serving stacks (Triton's PyTorch backend among them) still load.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        traced = torch.jit.trace(portable, example, check_trace=False)
        buffer = io.BytesIO()  # torch.jit.save refuses some file names (a leading dot)
        torch.jit.save(traced, buffer, _extra_files=extra)
    path.write_bytes(buffer.getvalue())
