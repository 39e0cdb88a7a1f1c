"""Running an exported model as its user would: from the file and its metadata alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
from PIL import Image, ImageOps


def onnx_metadata(path: Path) -> tuple[list[str], dict[str, Any]]:
    """The labels and the description an exported ONNX file carries."""
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(meta["labels"]), json.loads(meta["reprogram"])


def user_preprocess(image: Image.Image, details: dict[str, Any]) -> np.ndarray:
    """What the metadata says to do: fit the centre square, scale to [0, 1], NCHW RGB."""
    size = details["input"]["shape"][-1]
    gray = details["input"]["color"] != "RGB"
    fitted = ImageOps.fit(
        image.convert("L" if gray else "RGB"), (size, size), method=Image.Resampling.BILINEAR
    )
    array = np.asarray(fitted, dtype=np.float32) / 255.0
    if gray:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return array.transpose(2, 0, 1)[None]


def run_onnx(path: Path, images: list[Image.Image]) -> np.ndarray:
    """Probabilities from ONNX Runtime for images, preprocessed as the metadata says."""
    _, details = onnx_metadata(path)
    batch = np.concatenate([user_preprocess(image, details) for image in images])
    session = onnxruntime.InferenceSession(str(path))
    return session.run(["probabilities"], {"images": batch})[0]
