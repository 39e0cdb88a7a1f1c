"""Exported files run with no Reprogram code and agree with the engine's own predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as photos
from support.exported import onnx_metadata, run_onnx, user_preprocess

from reprogramming.job import run_job
from reprogramming.predictor import Predictor

DIGITS = {"name": "digits", "max_per_class": 20, "test_max_per_class": 5}
SPECS = {
    "probe": {"kind": "linear_probe", "input_size": 32},
    "program": {"kind": "adversarial_program", "canvas_size": 40, "image_size": 28,
                "operation": "multiply", "label_mapping": "learned"},
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(SPECS))
def artifact(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> Path:
    out = tmp_path_factory.mktemp(request.param)
    run_job(
        {"backbone": {"name": "efficientnet_lite0"}, "dataset": DIGITS,
         "method": SPECS[request.param], "hyperparameters": {"epochs": 2, "batch_size": 64}},
        data_dir=data_dir, output_dir=out,
    )  # fmt: skip
    return out


PHOTOS = [photos.chelsea(), photos.coffee(), photos.astronaut(), photos.camera()]


def test_onnx_and_torchscript_agree_with_the_engine(artifact: Path, tmp_path: Path) -> None:
    run = [sys.executable, "-m", "reprogram.cli", "export", str(artifact)]
    for fmt in ("onnx", "torchscript"):
        done = subprocess.run(
            [*run, "--format", fmt, "-o", str(tmp_path / fmt)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    labels, details = onnx_metadata(tmp_path / "onnx")
    extra = {"labels.json": "", "reprogram.json": ""}
    scripted = torch.jit.load(str(tmp_path / "torchscript"), _extra_files=extra)
    assert json.loads(extra["labels.json"]) == labels
    assert json.loads(extra["reprogram.json"]) == details

    engine = Predictor.from_artifact(artifact, device="cpu", precision="fp32")
    assert labels == engine.labels
    images = [Image.fromarray(p) for p in PHOTOS]
    by_onnx = run_onnx(tmp_path / "onnx", images)
    batch = np.concatenate([user_preprocess(image, details) for image in images])
    with torch.no_grad():
        by_script = scripted(torch.from_numpy(batch)).numpy()
    want = engine.probabilities(engine.preprocess(images)).numpy()
    for got in (by_onnx, by_script):
        assert got.shape == (len(images), len(labels))
        np.testing.assert_allclose(got, want, atol=1e-4)
        top = np.argsort(-got, axis=1)[:, :3]
        assert (top == np.argsort(-want, axis=1)[:, :3]).all()


def test_an_unknown_format_is_refused(artifact: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reprogram.cli", "export", str(artifact), "--format", "tflite"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "invalid choice: 'tflite'" in done.stderr
