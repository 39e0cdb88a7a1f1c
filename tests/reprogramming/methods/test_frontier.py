"""BLM / BLM+ label mappings, SMM masks, learned input scaling and Elsayed's native-size border,
each trained for real: EfficientNet-Lite0's ImageNet weights on scikit-learn's digits, 32 px.

Two epochs on 180 images; chance is 10 %.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from reprogramming.artifacts import read_manifest
from reprogramming.data import load_dataset
from reprogramming.errors import ReprogramError
from reprogramming.factory import build_backbone, load_model
from reprogramming.images import to_model_input
from reprogramming.job import JobResult, run_job
from reprogramming.loop import CHECKPOINT
from reprogramming.methods import ProgramModel, resolve_image_size
from reprogramming.methods.label_mapping import (
    BayesianMapping,
    bayesian_omega,
    joint_counts,
    predicted_weights,
)
from reprogramming.methods.program import AdversarialProgram
from reprogramming.runtime import autocast
from reprogramming.spec import AdversarialProgramSpec, BackboneSpec, DatasetSpec

LITE0 = {"name": "efficientnet_lite0", "weights": "imagenet"}
DIGITS = {"name": "digits", "max_per_class": 20, "test_max_per_class": 10, "seed": 0}
FAST = {"epochs": 2, "batch_size": 32, "seed": 0}
PROGRAM = {"kind": "adversarial_program", "canvas_size": 32}

RUNS: dict[str, dict[str, Any]] = {
    "blm": {**PROGRAM, "label_mapping": "blm"},
    "blm_plus": {**PROGRAM, "label_mapping": "blm_plus"},
    "smm": {**PROGRAM, "prompt": "smm"},
    "scaled": {**PROGRAM, "input_scaling": "learned", "region": "border", "image_size": 24},
    "elsayed": {**PROGRAM, "region": "border", "label_mapping": "first_k"},
}


class Run:
    """A finished job, its artifact, its log and the learned state after each epoch."""

    def __init__(self, result: JobResult, directory: Path, logs: list[str], epochs: list) -> None:
        self.result, self.directory, self.logs, self.epochs = result, directory, logs, epochs

    @property
    def model(self) -> ProgramModel:
        assert isinstance(self.result.model, ProgramModel)
        return self.result.model


def _keeper(states: list[dict[str, torch.Tensor]], checkpoint: Path) -> Any:
    def keep(_: dict[str, Any]) -> None:
        # The checkpoint is written just before each epoch's callback: the state after it.
        states.append(torch.load(checkpoint, weights_only=True)["model"])

    return keep


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Run]:
    out = {}
    for name, method in RUNS.items():
        root = tmp_path_factory.mktemp(name)
        logs: list[str] = []
        states: list[dict[str, torch.Tensor]] = []
        spec = {"backbone": LITE0, "dataset": DIGITS, "method": method, "hyperparameters": FAST}
        result = run_job(
            spec, data_dir=data_dir, output_dir=root / "artifact", on_log=logs.append,
            on_epoch=_keeper(states, root / "checkpoints" / CHECKPOINT),
            checkpoint_dir=root / "checkpoints",
        )  # fmt: skip
        out[name] = Run(result, root / "artifact", logs, states)
    return out


@pytest.mark.parametrize(
    ("name", "floor"), [("blm", 0.2), ("blm_plus", 0.2), ("smm", 0.4), ("scaled", 0.4)]
)
def test_each_new_method_learns_digits(runs: dict[str, Run], name: str, floor: float) -> None:
    # Measured here: BLM 0.33, BLM+ 0.42 (first_k: 0.14), SMM 0.73, learned scale 0.73.
    assert runs[name].result.metrics["test_accuracy"] >= floor, runs[name].result.metrics


@pytest.mark.parametrize("name", ["blm", "blm_plus"])
def test_omega_is_re_estimated_each_epoch_from_the_programs_predictions(
    runs: dict[str, Run], name: str, data_dir: Path
) -> None:
    run = runs[name]
    model = run.model
    assert isinstance(model.mapping, BayesianMapping) and model.mapping.kind == name
    first, second = (state["mapping.omega"] for state in run.epochs)
    for omega in (first, second):
        assert omega.shape == (1000, 10)  # ImageNet's labels × the digits
        assert bool((omega >= 0).all())
        # Each new label's column is a distribution over the source labels.
        assert torch.allclose(omega.sum(0), torch.ones(10), atol=1e-5)
    assert not torch.allclose(first, second)  # the program moved, so did ω
    assert torch.equal(model.mapping.omega, second)
    assert sum("ω re-estimated" in line for line in run.logs) == 2

    # Epoch 2's ω is the paper's estimate from the program as epoch 1 left it, on the
    # training images: recomputed here from the backbone's predictions and the true labels.
    model = copy.deepcopy(model)
    model.load_state_dict(run.epochs[0], strict=False)
    splits = load_dataset(DatasetSpec(**DIGITS), data_dir=data_dir, download=False)
    device, bf16 = torch.device("cpu"), bool(run.result.info["bf16"])
    top_k = None if name == "blm" else 1  # ⌊0.15 · 10⌋
    joint = torch.zeros(1000, 10)
    with torch.inference_mode():
        for rows in torch.arange(len(splits.train)).split(128):
            x = to_model_input(splits.train.images[rows], model.input_size)
            with autocast(device, bf16):
                logits = model.source_logits(x).float()
            weights = predicted_weights(logits, top_k=top_k)
            joint += joint_counts(weights, splits.train.labels[rows], 10)
    assert torch.allclose(bayesian_omega(joint, laplace=1.0), second, atol=1e-5)


@pytest.mark.parametrize("name", ["blm", "blm_plus", "smm", "scaled", "elsayed"])
def test_artifacts_round_trip_to_the_same_logits(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    loaded = load_model(run.directory)
    assert isinstance(loaded, ProgramModel)
    for key, value in run.model.learned_state().items():
        assert torch.equal(loaded.learned_state()[key], value.cpu()), key
    x = torch.rand(4, 3, loaded.input_size, loaded.input_size)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), run.model.eval()(x), atol=1e-4)
    # No backbone weight is stored: the program (3 × 32 × 32), ω or the mask CNN only.
    assert (run.directory / "model.safetensors").stat().st_size < 100_000


def test_blm_options_are_recorded_and_omega_reloads_identically(runs: dict[str, Run]) -> None:
    config = read_manifest(runs["blm_plus"].directory)["config"]
    assert config["label_mapping"] == "blm_plus"
    assert (config["blm_laplace"], config["blm_top_k_ratio"]) == (1.0, 0.15)
    loaded = load_model(runs["blm"].directory)
    assert isinstance(loaded.mapping, BayesianMapping)
    assert torch.equal(loaded.mapping.omega, runs["blm"].model.mapping.omega)


def test_smm_masks_each_image_differently(runs: dict[str, Run], data_dir: Path) -> None:
    program = runs["smm"].model.program
    assert program.masks is not None
    splits = load_dataset(DatasetSpec(**DIGITS), data_dir=data_dir, download=False)
    digits = splits.test.images[:4]
    with torch.inference_mode():
        canvas = program.place(to_model_input(digits, program.input_size))
        masks = program.masks(canvas)
    assert masks.shape == (4, 3, 32, 32)  # one 3-channel mask per image, at the canvas size
    assert not torch.allclose(masks[0], masks[1])  # trained: each image its own mask
    assert read_manifest(runs["smm"].directory)["config"]["prompt"] == "smm"


def test_smm_artifact_stays_small_at_full_size() -> None:
    # At 224 px: the program's W (3 × 224²) and M (224²) as for any program, plus about 7,000
    # weights (28 KB) for the mask CNN.
    program = AdversarialProgram(
        canvas_size=224, image_size=224, region="full", operation="add", prompt="smm"
    )
    state = program.state_dict()
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    cnn = sum(t.numel() * t.element_size() for k, t in state.items() if k.startswith("masks."))
    assert nbytes == 4 * 224 * 224 * 4 + cnn
    assert cnn < 32_000


def test_learned_input_scale_trains_and_the_program_pads_around_it(runs: dict[str, Run]) -> None:
    run = runs["scaled"]
    program = run.model.program
    assert program.input_size == 32  # images come at the canvas size; the model shrinks them
    scale = program.image_scale()
    assert scale is not None
    start, end = 24 / 32, float(scale.detach())
    assert end != pytest.approx(start, abs=1e-4)  # the scale was trained
    side = round(end * 32)
    inner = (32 - side) // 2 + 1
    pattern = program.program().detach()
    assert pattern[..., inner : 32 - inner, inner : 32 - inner].abs().max() < 1e-6
    assert pattern.abs().max() > 0
    assert read_manifest(run.directory)["config"]["input_scaling"] == "learned"


def test_a_border_program_without_a_size_places_the_images_at_their_own_size(
    runs: dict[str, Run],
) -> None:
    run = runs["elsayed"]
    assert run.model.program.image_size == 8 and run.model.input_size == 8  # 8 × 8 digits
    assert read_manifest(run.directory)["config"]["image_size"] == 8
    assert any("their own size, 8 px" in line for line in run.logs)
    pattern = run.model.program.program().detach()
    assert pattern[..., 12:20, 12:20].abs().max() == 0 and pattern.abs().max() > 0


def test_mnist_in_a_224_canvas_is_elsayeds_setting() -> None:
    backbone = build_backbone(BackboneSpec(**LITE0))
    spec = AdversarialProgramSpec(region="border")
    resolved = resolve_image_size(spec, backbone, native_size=28)
    assert isinstance(resolved, AdversarialProgramSpec)
    assert (resolved.image_size, backbone.input_size) == (28, 224)


def test_images_that_fill_the_canvas_are_refused_naming_both_options(data_dir: Path) -> None:
    spec = {
        "backbone": LITE0,
        "dataset": {"name": "mnist_5k", "max_per_class": 2, "test_max_per_class": 2},
        "method": {"kind": "adversarial_program", "region": "border", "canvas_size": 28},
        "hyperparameters": FAST,
    }
    with pytest.raises(ReprogramError) as info:
        run_job(spec, data_dir=data_dir)
    message = info.value.message
    assert "'image_size'" in message and "'scale'" in message and "28×28" in message
    assert info.value.field == "method.image_size"
