"""The local `reprogram train` / `reprogram predict` commands, run as real processes."""

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image
from skimage import data as photos

SPEC = {
    "name": "cli-digits",
    "backbone": {"name": "efficientnet_lite0"},
    "dataset": {"name": "digits", "max_per_class": 20},
    "method": {"kind": "linear_probe", "input_size": 32},
    "hyperparameters": {"epochs": 3, "batch_size": 32},
}


def reprogram(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reprogram.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=600,
    )


def test_train_then_predict(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "model"
    trained = reprogram("train", str(spec), "--output", str(out), "--json")
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads(trained.stdout)
    assert metrics["test_accuracy"] > 0.3
    assert "epoch 3/3" in trained.stderr  # per-epoch lines beside the progress bar
    assert (out / "manifest.json").exists() and not (out / "checkpoint").exists()

    image = tmp_path / "coffee.jpg"
    Image.fromarray(photos.coffee()).save(image)
    predicted = reprogram("predict", str(out), str(image), "--top-k", "2", "--json")
    assert predicted.returncode == 0, predicted.stderr
    payload = json.loads(predicted.stdout)
    top = payload["predictions"][0]["top_k"]
    assert len(top) == 2 and top[0]["label"] in [str(d) for d in range(10)]

    human = reprogram("predict", str(out), str(image))
    assert human.returncode == 0 and "%" in human.stdout


def test_invalid_spec_names_the_field(tmp_path: Path) -> None:
    bad = dict(SPEC, hyperparameters={"epochs": 0})
    result = reprogram("train", "-", "--output", str(tmp_path / "x"), stdin=json.dumps(bad))
    assert result.returncode != 0
    assert "hyperparameters.epochs" in result.stderr


def test_unknown_backbone_is_a_clear_error(tmp_path: Path) -> None:
    bad = dict(SPEC, backbone={"name": "resnet9000"})
    result = reprogram("train", "-", "--output", str(tmp_path / "x"), stdin=json.dumps(bad))
    assert result.returncode == 2
    assert "unknown backbone 'resnet9000'" in result.stderr


def test_predict_on_a_missing_artifact(tmp_path: Path) -> None:
    result = reprogram("predict", str(tmp_path), str(tmp_path / "nothing.png"))
    assert result.returncode == 2 and "manifest.json is missing" in result.stderr
