"""Every method end to end on real data with the real EfficientNet-Lite0 ImageNet weights.

Small subsets at low resolution keep this fast on two CPU cores; full-size runs are in bench/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from reprogramming.artifacts import read_manifest
from reprogramming.errors import Cancelled
from reprogramming.factory import load_model
from reprogramming.job import JobResult, run_job
from reprogramming.methods import ProgramModel

LITE0 = {"name": "efficientnet_lite0", "weights": "imagenet"}
MNIST = {"name": "mnist_5k", "max_per_class": 24, "test_max_per_class": 10, "seed": 0}
FAST = {"epochs": 2, "batch_size": 32, "seed": 0}


def job(method: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    spec = {"backbone": LITE0, "dataset": MNIST, "method": method, "hyperparameters": FAST}
    return spec | overrides


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> dict[str, tuple[JobResult, Path]]:
    """One small real training run per method, shared by the tests below."""
    runs = {
        "linear_probe": job({"kind": "linear_probe", "input_size": 64}, hyperparameters={
            "epochs": 5, "batch_size": 32}),
        "program": job({"kind": "adversarial_program", "canvas_size": 64}),
        "elsayed": job({"kind": "adversarial_program", "canvas_size": 64, "region": "border",
                        "scale": 0.5, "label_mapping": "first_k", "l2": 0.001}),
        "finetune": job({"kind": "finetune", "input_size": 64}),
        "scratch": job({"kind": "scratch", "input_size": 32}),
    }  # fmt: skip
    results = {}
    for name, spec in runs.items():
        out = tmp_path_factory.mktemp(name)
        events: list[dict[str, Any]] = []
        result = run_job(spec, data_dir=data_dir, output_dir=out, on_epoch=events.append)
        assert [e["epoch"] for e in events] == list(range(1, spec["hyperparameters"]["epochs"] + 1))
        results[name] = (result, out)
    return results


def test_linear_probe_learns_digits_from_imagenet_features(trained) -> None:
    result, _ = trained["linear_probe"]
    assert result.metrics["test_accuracy"] > 0.6  # 10 classes: chance is 0.1
    assert result.info["feature_cache"] == "miss"
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "images_per_s"):
        assert key in last


def test_default_program_full_canvas_learned_mapping_learns(trained) -> None:
    result, _ = trained["program"]
    assert result.metrics["test_accuracy"] > 0.3
    model = result.model
    assert isinstance(model, ProgramModel) and model.mapping.kind == "learned"


def test_elsayed_border_program_changes_only_the_border(trained) -> None:
    result, _ = trained["elsayed"]
    program = result.model.program
    p = program.program().detach()
    assert p[..., 16:48, 16:48].abs().max() == 0  # the image's own pixels are never overwritten
    assert p.abs().max() > 0
    assert result.model.mapping.index.tolist() == list(range(10))


def test_finetune_and_scratch_train_the_backbone(trained) -> None:
    finetuned, _ = trained["finetune"]
    assert finetuned.metrics["test_accuracy"] > 0.2
    scratch, out = trained["scratch"]
    # Without re-estimating batch-norm statistics after each epoch, a briefly trained network
    # evaluates at chance (0.1) whatever it learned; with it, evaluation matches training.
    assert scratch.metrics["test_accuracy"] > 0.15
    manifest = read_manifest(out)
    assert manifest["backbone"]["weights"] == "random"
    assert manifest["method"] == "scratch"


@pytest.mark.parametrize("name", ["linear_probe", "program", "elsayed", "finetune", "scratch"])
def test_artifact_reloads_to_the_same_predictions(trained, name: str) -> None:
    result, out = trained[name]
    manifest = read_manifest(out)
    assert manifest["metrics"]["test_accuracy"] == result.metrics["test_accuracy"]
    assert manifest["labels"] == [str(d) for d in range(10)]
    assert {"torch", "torchvision", "reprogram"} <= set(manifest["versions"])
    assert manifest["spec"]["method"]["kind"] == result.model.method
    loaded = load_model(out)
    x = torch.rand(4, 3, result.model.input_size, result.model.input_size)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), result.model.eval()(x), atol=1e-5)


def test_frozen_backbones_are_not_stored(trained) -> None:
    _, probe = trained["linear_probe"]
    _, finetune = trained["finetune"]
    assert (probe / "model.safetensors").stat().st_size < 100_000  # a 1280×10 head
    assert (finetune / "model.safetensors").stat().st_size > 10_000_000  # every weight


def test_a_model_is_the_backbone_of_the_next_job(trained, tmp_path: Path, data_dir: Path) -> None:
    # The thesis's Table 3.1: a model trained on one task reprogrammed to another.
    _, scratch_dir = trained["scratch"]
    spec = job(
        {"kind": "adversarial_program", "label_mapping": "first_k", "region": "border",
         "canvas_size": 32, "image_size": 16},
        backbone={"artifact": str(scratch_dir)},
        dataset={"name": "digits", "max_per_class": 10, "test_max_per_class": 5},
        hyperparameters={"epochs": 1, "batch_size": 32},
    )  # fmt: skip
    result = run_job(spec, data_dir=data_dir, output_dir=tmp_path / "child")
    assert result.model.backbone.labels == [str(d) for d in range(10)]
    child = load_model(tmp_path / "child")
    x = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        assert torch.allclose(child(x), result.model.eval()(x), atol=1e-5)


def test_feature_cache_hit_skips_the_backbone(trained, data_dir: Path) -> None:
    result, _ = trained["linear_probe"]
    logs: list[str] = []
    spec = job({"kind": "linear_probe", "input_size": 64}, hyperparameters={
        "epochs": 5, "batch_size": 32})  # fmt: skip
    again = run_job(spec, data_dir=data_dir, on_log=logs.append)
    assert again.info["feature_cache"] == "hit"
    assert not any("computing backbone features" in line for line in logs)
    assert again.metrics["test_accuracy"] == result.metrics["test_accuracy"]


def test_cancel_is_honoured_within_one_step(data_dir: Path) -> None:
    steps: list[int] = []

    def should_stop() -> bool:
        steps.append(1)
        return len(steps) > 3

    with pytest.raises(Cancelled):
        run_job(
            job({"kind": "adversarial_program", "canvas_size": 32}),
            data_dir=data_dir,
            should_stop=should_stop,
        )
    assert len(steps) == 4


@pytest.mark.parametrize(
    ("mapping", "cut"),
    [("iterative", 8 + 3), ("learned", 8 + 3), ("learned", 8 + 1)],
    ids=["iterative-mid-epoch", "learned-mid-epoch", "learned-epoch-boundary"],
)
def test_resume_ends_where_an_uninterrupted_run_would(
    tmp_path: Path, data_dir: Path, mapping: str, cut: int
) -> None:
    """Stopped at a step (a worker shutting down), a run resumes from that very step."""
    spec = job(
        {"kind": "adversarial_program", "canvas_size": 32, "label_mapping": mapping},
        dataset={"name": "mnist_5k", "max_per_class": 12, "test_max_per_class": 5},
        hyperparameters={"epochs": 3, "batch_size": 16, "seed": 7},
    )
    whole = run_job(spec, data_dir=data_dir, checkpoint_dir=tmp_path / "whole")
    calls: list[int] = []

    def stop_in_epoch_two() -> bool:  # 120 images / 16 = 8 steps an epoch
        calls.append(1)
        return len(calls) == cut

    with pytest.raises(Cancelled) as stopped:
        run_job(
            spec, data_dir=data_dir, checkpoint_dir=tmp_path / "cut", should_stop=stop_in_epoch_two
        )
    if cut > 8 + 1:  # mid-epoch: the steps already taken were checkpointed
        assert (stopped.value.epoch, stopped.value.step) == (2, cut - 8 - 1)
    else:  # at the epoch's first step: nothing new to keep; epoch 1's checkpoint stands
        assert stopped.value.step is None
    resumed = run_job(spec, data_dir=data_dir, checkpoint_dir=tmp_path / "cut", resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for key, value in whole.model.learned_state().items():
        assert torch.equal(value, resumed.model.learned_state()[key]), key
    for a, b in zip(whole.history, resumed.history, strict=True):
        for metric in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert a[metric] == b[metric], (a["epoch"], metric)
    assert resumed.metrics["test_accuracy"] == whole.metrics["test_accuracy"]


@pytest.mark.parametrize("mapping", ["frequency", "random"])
def test_other_one_to_one_mappings(mapping: str, data_dir: Path) -> None:
    spec = job(
        {"kind": "adversarial_program", "canvas_size": 32, "label_mapping": mapping},
        dataset={"name": "digits", "max_per_class": 10, "test_max_per_class": 5},
        hyperparameters={"epochs": 1, "batch_size": 32},
    )
    result = run_job(spec, data_dir=data_dir)
    index = result.model.mapping.index.tolist()
    assert len(set(index)) == 10 and index != list(range(10))


def test_no_validation_split_gives_null_val_metrics(tmp_path: Path, data_dir: Path) -> None:
    spec = job(
        {"kind": "linear_probe", "input_size": 32},
        dataset={"name": "digits", "max_per_class": 10, "val_fraction": 0.0},
    )
    result = run_job(spec, data_dir=data_dir, output_dir=tmp_path)
    assert result.metrics["val_accuracy"] is None and result.metrics["best_val_accuracy"] is None
    assert "NaN" not in (tmp_path / "manifest.json").read_text()
