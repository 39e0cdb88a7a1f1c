"""Run one job spec end to end: data, backbone, method, training, test metrics, artifact."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reprogramming.artifacts import save_artifact
from reprogramming.data import Splits, load_dataset
from reprogramming.errors import ReprogramError
from reprogramming.factory import ModelResolver, build_backbone
from reprogramming.features import cached_features, extract_features, feature_key
from reprogramming.images import to_model_input
from reprogramming.loop import (
    Data,
    EpochCallback,
    Stage,
    StopCheck,
    each_batch,
    evaluate,
    fit,
    recalibrate_batchnorm,
)
from reprogramming.methods import (
    REMAPPED,
    ProgramModel,
    ReprogrammedModel,
    build_model,
    resolve_image_size,
)
from reprogramming.methods.label_mapping import (
    BayesianMapping,
    IndexMapping,
    bayesian_omega,
    blm_plus_top_k,
    greedy_one_to_one,
    joint_counts,
    predicted_weights,
)
from reprogramming.methods.models import Classifier
from reprogramming.runtime import pick_device, place_data, seed_everything, to_device, use_bf16
from reprogramming.spec import AdversarialProgramSpec, Hyperparameters, JobSpec, parse_spec

LogCallback = Callable[[str], None]
# Methods whose backbone's weights train too.
TRAINS_WEIGHTS = ("finetune", "scratch")


@dataclass
class JobResult:
    """What a finished job produced."""

    model: ReprogrammedModel
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    artifact_dir: Path | None = None
    manifest: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class _SourceLogits(nn.Module):
    def __init__(self, model: ProgramModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.source_logits(x)


def _remapper(
    model: ProgramModel, stage: Stage, train: Data, *, batch_size: int, log: LogCallback
) -> Callable[[int], None]:
    """Before each epoch, re-choose the label mapping from the current program's predictions.

    All of them start from the joint frequency table of the backbone's predicted source labels
    (on the reprogrammed training images) and the true labels: `frequency` (BAR) picks a
    one-to-one map from it once, `iterative` (ILM-VP) every epoch; `blm` / `blm_plus` (Cai et
    al. 2024) re-estimate ω from it every epoch, BLM+ from top-K probabilities.
    """
    mapping = model.mapping
    num_target = len(model.labels)
    top_k = None
    if mapping.kind == "blm_plus":
        ratio = float(model.mapping_options["blm_top_k_ratio"])
        top_k = blm_plus_top_k(ratio, num_target)
    source = Stage(_SourceLogits(model), stage.prepare, stage.device, stage.bf16)

    def remap(epoch: int) -> None:
        if mapping.kind == "frequency" and epoch > 0:
            return
        joint = torch.zeros(model.backbone.num_labels, num_target, device=stage.device)

        def count(rows: torch.Tensor, logits: torch.Tensor) -> None:
            weights = predicted_weights(logits, top_k=top_k)
            labels = train.labels[rows.to(train.labels.device)].to(stage.device)
            joint.add_(joint_counts(weights, labels, num_target))

        each_batch(source, train.inputs, count, batch_size=batch_size)
        if isinstance(mapping, BayesianMapping):
            laplace = float(model.mapping_options["blm_laplace"])
            omega = bayesian_omega(joint.cpu(), laplace=laplace)
            mapping.omega.copy_(omega.to(mapping.omega.device))
            top = omega.max(0)
            log(
                f"epoch {epoch + 1}: {mapping.kind} label mapping ω re-estimated; each new "
                f"label's heaviest source label {top.indices.tolist()} "
                f"(weights {[round(w, 3) for w in top.values.tolist()]})"
            )
            return
        assert isinstance(mapping, IndexMapping)  # only one-to-one mappings are re-chosen
        index = greedy_one_to_one(joint.T.cpu()).to(mapping.index.device)
        mapping.index.copy_(index)
        log(f"epoch {epoch + 1}: {mapping.kind} label mapping → {index.tolist()}")

    return remap


def run_job(
    spec: JobSpec | dict[str, Any],
    *,
    data_dir: Path,
    output_dir: Path | None = None,
    on_epoch: EpochCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    resolve_model: ModelResolver | None = None,
    resolve_upload: Callable[[str], Path] | None = None,
    download: bool = True,
    on_step: Callable[[int, int], None] | None = None,
) -> JobResult:
    """Train the model a job spec describes and, given output_dir, write its artifact there.

    `data_dir` holds the dataset and feature caches and the downloads.
    """
    spec = spec if isinstance(spec, JobSpec) else parse_spec(spec)
    log = on_log or (lambda message: None)
    hp = spec.hyperparameters
    started = time.perf_counter()
    device = pick_device(hp.device)
    data_dir.mkdir(parents=True, exist_ok=True)

    splits = load_dataset(
        spec.dataset, data_dir=data_dir, download=download, resolve_upload=resolve_upload
    )
    log(f"dataset: {len(splits.classes)} classes, splits {splits.sizes}")
    model = _build_model(spec, splits, resolve_model=resolve_model, log=log)
    to_device(model, device)
    bf16 = use_bf16(hp.precision, device, training_weights=spec.method.kind in TRAINS_WEIGHTS)
    log(f"device: {device}, bf16 autocast: {bf16}")

    info: dict[str, Any] = {"device": str(device), "bf16": bf16, "splits": splits.sizes}
    if spec.method.kind == "linear_probe":
        stage, train, val, test = _feature_stage(
            model, splits, root=data_dir, device=device, bf16=bf16, hp_batch=hp.batch_size,
            should_stop=should_stop, info=info, log=log,
        )  # fmt: skip
    else:
        stage, train, val, test = _image_stage(
            model, splits, spec=spec, device=device, bf16=bf16, log=log
        )

    history = fit(
        stage, train=train, val=val, hp=hp, on_epoch=on_epoch, should_stop=should_stop,
        checkpoint_dir=checkpoint_dir, resume=resume, on_step=on_step,
    )  # fmt: skip
    metrics = _metrics(stage, test, history, splits=splits, hp=hp, info=info, started=started)
    log(f"test accuracy {metrics['test_accuracy']:.4f}")
    model.eval()
    result = JobResult(model=model, metrics=metrics, history=history, info=info)
    if output_dir is not None:
        _write_artifact(result, spec=spec, splits=splits, directory=Path(output_dir))
    return result


def _write_artifact(result: JobResult, *, spec: JobSpec, splits: Splits, directory: Path) -> None:
    """Save the trained model as an artifact in `directory` and note it in the result."""
    result.manifest = save_artifact(
        result.model,
        directory,
        spec=spec.model_dump(mode="json"),
        metrics=result.metrics,
        history=result.history,
        channels=splits.channels,
        dataset={"classes": splits.classes, "key": splits.key, "sizes": splits.sizes},
    )
    result.artifact_dir = directory


def _build_model(
    spec: JobSpec, splits: Splits, *, resolve_model: ModelResolver | None, log: LogCallback
) -> ReprogrammedModel:
    """The spec's backbone (random weights for 'scratch') under its method's model, seeded.

    What the method leaves to the data (a border program's image size) is settled here, where
    both the backbone and the images are known.
    """
    backbone_spec, hp = spec.backbone, spec.hyperparameters
    if spec.method.kind == "scratch":
        if backbone_spec.name is None:
            raise ReprogramError(
                "'scratch' needs a named backbone architecture", field="backbone.name"
            )
        backbone_spec = backbone_spec.model_copy(update={"weights": "random"})
    seed_everything(hp.seed)
    backbone = build_backbone(backbone_spec, resolve_model=resolve_model)
    log(
        f"backbone: {backbone.ref} ({backbone.num_features} features, {backbone.num_labels} labels)"
    )
    native = int(max(splits.train.images.shape[-2:]))
    method = resolve_image_size(spec.method, backbone, native_size=native)
    if method is not spec.method and isinstance(method, AdversarialProgramSpec):
        log(f"border program: the images keep their own size, {method.image_size} px")
    seed_everything(hp.seed)
    return build_model(method, backbone, splits.classes, seed=hp.seed)


def _image_stage(
    model: ReprogrammedModel,
    splits: Splits,
    *,
    spec: JobSpec,
    device: torch.device,
    bf16: bool,
    log: LogCallback,
) -> tuple[Stage, Data, Data, Data]:
    """The splits' images on the device and a stage for the whole model, with its epoch hooks."""
    hp, method = spec.hyperparameters, spec.method
    size = model.input_size
    stage = Stage(module=model, prepare=lambda x: to_model_input(x, size), device=device, bf16=bf16)
    train, val, test = (
        Data(place_data(part.images, device), part.labels)
        for part in (splits.train, splits.val, splits.test)
    )
    if method.kind in TRAINS_WEIGHTS:
        batch = max(hp.batch_size, 64)
        stage.after_epoch = lambda: recalibrate_batchnorm(stage, train, batch_size=batch)
    if isinstance(model, ProgramModel):
        if isinstance(method, AdversarialProgramSpec) and method.l2 > 0:
            program, l2 = model.program, method.l2
            stage.penalty = lambda: l2 * program.l2()
        if model.mapping.kind in REMAPPED:
            stage.before_epoch = _remapper(
                model, stage, train, batch_size=max(hp.batch_size, 128), log=log
            )
    return stage, train, val, test


def _metrics(
    stage: Stage,
    test: Data,
    history: list[dict[str, Any]],
    *,
    splits: Splits,
    hp: Hyperparameters,
    info: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """The finished job's figures: test metrics, the last epoch's, pace and split sizes."""
    test_metrics = evaluate(stage, test, batch_size=max(hp.batch_size, 256))
    last = history[-1]
    return {
        "test_accuracy": test_metrics["accuracy"],
        "test_loss": test_metrics["loss"],
        "train_accuracy": last["train_accuracy"],
        "train_loss": last["train_loss"],
        "val_accuracy": last["val_accuracy"],
        "val_loss": last["val_loss"],
        "best_val_accuracy": max(
            (h["val_accuracy"] for h in history if h["val_accuracy"] is not None), default=None
        ),
        "epochs": len(history),
        "images_per_s": sum(h["images_per_s"] for h in history) / len(history),
        # For a linear probe the epochs train on cached features; this is the backbone's pace.
        **(
            {"feature_images_per_s": sum(splits.sizes.values()) / info["feature_s"]}
            if info.get("feature_cache") == "miss" and info.get("feature_s")
            else {}
        ),
        "elapsed_s": time.perf_counter() - started,
        **{f"{name}_size": size for name, size in splits.sizes.items()},
    }


def _feature_stage(
    model: ReprogrammedModel,
    splits: Splits,
    *,
    root: Path,
    device: torch.device,
    bf16: bool,
    hp_batch: int,
    should_stop: StopCheck | None,
    info: dict[str, Any],
    log: LogCallback,
) -> tuple[Stage, Data, Data, Data]:
    """Features of every split (from the cache when possible) and a stage for the head alone."""
    size = model.input_size
    key = feature_key(backbone=model.backbone, split_key=splits.key, input_size=size, bf16=bf16)

    def compute() -> dict[str, torch.Tensor]:
        log("computing backbone features (cached for later jobs)")
        return {
            name: extract_features(
                model.backbone,
                part.images,
                input_size=size,
                device=device,
                bf16=bf16,
                batch_size=max(64, min(hp_batch, 256)),
                should_stop=should_stop,
            )
            for name, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))
        }

    feature_start = time.perf_counter()
    features, hit = cached_features(root / "features", key, compute)
    info["feature_cache"] = "hit" if hit else "miss"
    info["feature_s"] = time.perf_counter() - feature_start
    log(f"feature cache {info['feature_cache']} ({info['feature_s']:.1f}s)")
    stage = Stage(module=Classifier(model), prepare=lambda x: x, device=device, bf16=False)
    return (
        stage,
        Data(features["train"], splits.train.labels),
        Data(features["val"], splits.val.labels),
        Data(features["test"], splits.test.labels),
    )
