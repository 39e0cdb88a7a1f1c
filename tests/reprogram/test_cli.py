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
    result = subprocess.run(
        [sys.executable, "-m", "reprogram.cli", *args],
        capture_output=True,
        input=stdin.encode() if stdin is not None else None,
        timeout=600,
    )
    result.raw_stderr = result.stderr  # type: ignore[attr-defined]  # what was written, \r and all
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


def test_train_then_predict(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "model"
    trained = reprogram("train", str(spec), "--output", str(out), "--json")
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads(trained.stdout)
    assert metrics["test_accuracy"] > 0.3
    # stderr is a pipe, not a terminal: one line per epoch and no progress-bar redraws
    assert b"\r" not in trained.raw_stderr
    assert [line.split()[1] for line in trained.stderr.splitlines()
            if line.startswith("epoch ")] == ["1/3", "2/3", "3/3"]  # fmt: skip
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
