"""The accuracy table: every method on real data, beside the thesis's numbers, into docs/results.md.

Two ImageNet backbones (EfficientNet-Lite0 and MobileNetV2, both with their real weights, offline)
→ mnist_5k, fashion_mnist and animal_mnist by each method: the linear probe; the adversarial
program as Elsayed et al. ran it (border program, first-10 labels, the image at its native size)
and on the whole canvas with each label mapping (first_k, frequency, iterative, blm, blm_plus,
learned); the two input prompts (SMM, learned input scaling); fine-tuning and training from
scratch. Plus the rows of the thesis's Table 3.1 that run here: a model trained from scratch on
one dataset, saved as an artifact, then reprogrammed to the other by Elsayed et al.'s method.

Beyond the main tables the page shows accuracy against epochs (the plateau), whether the label
mappings keep the order the BLM paper reports, and where SMM and input scaling beat the plain
program and reach the linear probe. Every row records its per-epoch train, validation and test
accuracy.

Resumable and kept across sessions: each row's result goes to bench/results/accuracy/<row>.json
(committed) as soon as it finishes, and a later run skips rows whose JSON holds the same job spec
(--fresh redoes them). docs/results.md is rewritten after every row, so a run cut short still
leaves a table.

Run from the repository root:
    .venv/bin/python bench/accuracy_table.py                 # CPU-sized defaults (hours, 2 cores)
    .venv/bin/python bench/accuracy_table.py --only 'lite0/mnist_5k/*'   # one block
    .venv/bin/python bench/accuracy_table.py --full --device cuda   # the thesis's sizes (GPU)
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean
from typing import Any

import torch
from common import (
    add_training_flags,
    command_line,
    describe_device,
    fresh_data_dir,
    hyperparameters,
)
from torch import nn

import reprogramming.job as engine_job
from reprogramming.data import ImageSet, load_dataset
from reprogramming.images import to_model_input
from reprogramming.job import run_job
from reprogramming.loop import evaluate
from reprogramming.runtime import autocast, pick_device, use_bf16
from reprogramming.spec import DEFAULT_LR, DatasetSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "accuracy"  # committed: results outlive a session
ARTIFACTS = ROOT / "bench" / "out" / "accuracy-artifacts"  # git-ignored: the Table 3.1 hosts
TARGETS = {
    "mnist_5k": "mnist_5k (MNIST digits)",
    "fashion_mnist": "fashion_mnist",
    "animal_mnist": "animal_mnist (animal silhouettes)",
}
BACKBONES = {  # row-id prefix → (backbone spec, name in the tables)
    "lite0": ({"name": "efficientnet_lite0"}, "EfficientNet-Lite0"),
    "mnv2": ({"name": "mobilenet_v2", "weights": "IMAGENET1K_V1"}, "MobileNetV2"),
}
CHANCE = 0.10  # every target has ten balanced classes
# The BLM paper's order (Cai et al., NeurIPS 2024, Table 2): each mapping should beat the last.
MAPPING_ORDER = ["first_k", "frequency", "iterative", "blm", "blm_plus"]
MAPPINGS = {
    "first_k": "first-10 labels (Elsayed)",
    "frequency": "frequency (BAR)",
    "iterative": "iterative (ILM-VP)",
    "blm": "BLM (Bayesian-guided)",
    "blm_plus": "BLM+ (top-K Bayesian-guided)",
    "learned": "learned dense 1000 → 10 (the engine's default)",
}
PROGRAM_ROWS = ["elsayed", *(f"full_{m}" for m in MAPPINGS), "smm", "scaling"]
# The learned-map program's lr either side of the engine's default (0.01): the lr study's rows.
LR_STUDY = (0.003, 0.03)
DEFAULT_PROGRAM_LR = DEFAULT_LR["adversarial_program"]


def learned_at(lr: float) -> str:
    """The name of the learned-map program's row at this lr (the default lr's is the main row)."""
    return "full_learned" if lr == DEFAULT_PROGRAM_LR else f"full_learned_lr{lr:g}"


# The first program row with a history is the one whose epochs the plateau table lists.
PLATEAU_ROWS = ["full_learned", "full_blm_plus", "full_blm", "full_iterative"]


@dataclass(frozen=True)
class Row:
    """One line of the table: a job spec and what to print beside its result."""

    id: str
    group: str  # a BACKBONES key, or "table31"
    target: str
    source: str
    method_label: str
    setup: str
    spec: dict[str, Any]
    thesis: str
    reference: str = "–"
    saves_artifact: bool = False
    needs: str | None = None  # id of the row whose artifact is this row's backbone
    extra: bool = False

    @property
    def name(self) -> str:
        """The method part of the id: 'full_blm', 'linear_probe', …"""
        return self.id.rsplit("/", 1)[1]


def parse_args() -> argparse.Namespace:
    """Command-line flags; the defaults fit a 2-core CPU (a program row in a few minutes)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--per-class",
        type=int,
        default=100,
        help="training images per class, every method (the linear probe too unless --lp-per-class)",
    )
    parser.add_argument("--lp-per-class", type=int, default=None, help="linear probe's, if other")
    parser.add_argument("--test-per-class", type=int, default=50)
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="held out of the training pool for the per-epoch validation curve",
    )
    parser.add_argument("--lp-size", type=int, default=224, help="linear probe input side")
    parser.add_argument("--lp-epochs", type=int, default=10)
    parser.add_argument(
        "--canvas", type=int, default=64, help="canvas / input side of the image-space methods"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=30,
        help="epochs of the program rows (enough to reach their plateau; see the plateau table)",
    )
    parser.add_argument(
        "--weight-epochs", type=int, default=10, help="epochs of the fine-tune and scratch rows"
    )
    parser.add_argument(
        "--elsayed-image",
        type=int,
        default=None,
        help="side of the image in Elsayed's row (default: the dataset's native 28 px)",
    )
    parser.add_argument("--l2", type=float, default=0.0, help="λ of Elsayed's row")
    parser.add_argument(
        "--transfer-size", type=int, default=32, help="input side of the Table 3.1 scratch models"
    )
    parser.add_argument(
        "--transfer-image",
        type=int,
        default=16,
        help="side of the new image on the Table 3.1 models' canvas",
    )
    parser.add_argument("--transfer-per-class", type=int, default=400)
    parser.add_argument("--transfer-epochs", type=int, default=3)
    add_training_flags(parser)
    # Programs start at W = 0 and Adam moves each pixel by about lr per step: at the thesis's
    # 1e-3 they are far from their plateau after hundreds of steps (bench/program_lr.py), so
    # by default every method takes the engine's own lr (0.01 programs, 1e-3 the rest).
    parser.set_defaults(lr=0.0)
    parser.add_argument(
        "--full",
        action="store_true",
        help="the thesis's sizes: every training image, 224-px canvas, 10 epochs for the "
        "probe, fine-tune and scratch (programs: 30, for their plateau)",
    )
    parser.add_argument(
        "--backbones", default=",".join(BACKBONES), help=f"comma-separated, of {list(BACKBONES)}"
    )
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated datasets")
    parser.add_argument(
        "--extra",
        action="store_true",
        help="also Elsayed with λ = 0.01 (mnist_5k), and the learned-map program at lr 0.003 "
        "and 0.03 (the lr study)",
    )
    parser.add_argument(
        "--only", "--rows", dest="only", default=None, help="comma-separated row ids or globs"
    )
    parser.add_argument("--fresh", action="store_true", help="redo rows that are already done")
    parser.add_argument("--list", action="store_true", help="print the plan and exit")
    parser.add_argument("--out", type=Path, default=RESULTS, help="per-row JSON files")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS, help="Table 3.1 hosts")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--data-dir", default=None, help="engine data dir (default: a fresh one)")
    args = parser.parse_args()
    if args.full:
        args.per_class = args.lp_per_class = args.transfer_per_class = None
        args.test_per_class = None
        args.lp_epochs = args.weight_epochs = args.transfer_epochs = 10
        args.epochs = max(args.epochs, 30)
        args.canvas = 224
    if args.lp_per_class is None:
        args.lp_per_class = args.per_class
    return args


def dataset(name: str, per_class: int | None, args: argparse.Namespace) -> dict[str, Any]:
    """A dataset spec with the table's split rules."""
    return {
        "name": name,
        "max_per_class": per_class,
        "test_max_per_class": args.test_per_class,
        "val_fraction": args.val_fraction,
        "test_fraction": 0.2,
        "seed": args.seed,
    }


def job(
    backbone: dict[str, Any],
    data: dict[str, Any],
    method: dict[str, Any],
    epochs: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """A whole job spec with the table's hyperparameters."""
    return {
        "backbone": backbone,
        "dataset": data,
        "method": method,
        "hyperparameters": hyperparameters(args, epochs=epochs),
    }


def program_method(mapping: str, region: str, canvas: int, **more: Any) -> dict[str, Any]:
    """An adversarial_program method spec (operation add)."""
    method = {"kind": "adversarial_program", "label_mapping": mapping, "region": region}
    return {**method, "operation": "add", "canvas_size": canvas, **more}


def lr_text(args: argparse.Namespace, kind: str) -> str:
    """The learning rate a row of this method kind trains with."""
    if args.lr:
        return f"lr {args.lr:g}"
    return "lr 0.01" if kind == "adversarial_program" else "lr 0.001"


def backbone_rows(key: str, target: str, args: argparse.Namespace) -> list[Row]:
    """One ImageNet backbone → target, by each method."""
    spec, name = BACKBONES[key]
    lp_data = dataset(target, args.lp_per_class, args)
    data = dataset(target, args.per_class, args)
    canvas, mnist = args.canvas, target == "mnist_5k"
    source = f"{name} (ImageNet)"
    prefix = f"{key}/{target}"
    program_lr = lr_text(args, "adversarial_program")
    other_lr = lr_text(args, "linear_probe")

    elsayed_extra = {} if args.elsayed_image is None else {"image_size": args.elsayed_image}
    elsayed = program_method("first_k", "border", canvas, l2=args.l2, **elsayed_extra)
    placed = f"{args.elsayed_image} px" if args.elsayed_image else "native 28 px"
    dataset_name = {"mnist_5k": "MNIST", "fashion_mnist": "Fashion-MNIST"}.get(target)
    if dataset_name is None:
        lp_thesis = "n/a (dataset not in the thesis)"
        program_thesis = "n/a (dataset not in the thesis)"
    else:
        lp_thesis = (
            f"n/a (no {dataset_name} cell; ImageNet → Caltech 101 by this method: 82.07 % avg)"
        )
        program_thesis = (
            "94.36 % (ResNet50V2 ImageNet → MNIST)"
            if mnist
            else "14.25 % (nearest: CIFAR-10 CNN → Fashion-MNIST)"
        )
    lite = key == "lite0"
    rows = [
        Row(
            f"{prefix}/linear_probe",
            key,
            target,
            source,
            "linear probe (thesis's “new and improved”)",
            f"{args.lp_size} px resize, new dense layer on frozen features, {other_lr}",
            job(
                spec,
                lp_data,
                {"kind": "linear_probe", "input_size": args.lp_size},
                args.lp_epochs,
                args,
            ),
            lp_thesis,
            "92–93 % (4,000/1,000, 224 px, 10 ep)" if mnist and lite else "–",
        ),
        Row(
            f"{prefix}/elsayed",
            key,
            target,
            source,
            "adversarial program, Elsayed et al.",
            f"{placed} image at centre of {canvas} px canvas, border program, first-10 labels, "
            f"λ = {args.l2:g}, {program_lr}",
            job(spec, data, elsayed, args.epochs, args),
            program_thesis,
            "70–78 % (4,000 train, 112 px canvas, 3 ep)" if mnist and lite else "–",
        ),
    ]
    for mapping, label in MAPPINGS.items():
        thesis = {
            "first_k": "n/a (Exp. 2 tried the whole canvas: “did not yield better results”, "
            "no number)",
            "learned": "n/a (Exp. 2 tried a learned mapping: “did not yield better results”, "
            "no number)",
        }.get(mapping, "n/a (later work)")
        rows.append(
            Row(
                f"{prefix}/full_{mapping}",
                key,
                target,
                source,
                f"adversarial program, full canvas, {label} mapping",
                f"image resized to the {canvas} px canvas, program everywhere, {program_lr}",
                job(spec, data, program_method(mapping, "full", canvas), args.epochs, args),
                thesis,
                "91–92 % (4,000 train, 112 px canvas, 3 ep)"
                if mnist and lite and mapping == "learned"
                else "–",
            )
        )
    rows += [
        Row(
            f"{prefix}/smm",
            key,
            target,
            source,
            "adversarial program + SMM (sample-specific masks), learned mapping",
            f"image resized to the {canvas} px canvas, program everywhere shaped per image by "
            f"the mask CNN, {program_lr}",
            job(
                spec,
                data,
                program_method("learned", "full", canvas, prompt="smm"),
                args.epochs,
                args,
            ),
            "n/a (later work)",
        ),
        Row(
            f"{prefix}/scaling",
            key,
            target,
            source,
            "adversarial program + learned input scaling (AutoVP), learned mapping",
            f"image shrunk inside the {canvas} px canvas by a trained scale (from 0.75), "
            f"padding program around it, {program_lr}",
            job(
                spec,
                data,
                program_method("learned", "border", canvas, input_scaling="learned"),
                args.epochs,
                args,
            ),
            "n/a (later work)",
        ),
        Row(
            f"{prefix}/finetune",
            key,
            target,
            source,
            "fine-tune all layers (baseline)",
            f"{canvas} px resize, every weight trains, new dense layer, {other_lr}",
            job(
                spec,
                data,
                {"kind": "finetune", "layers": "all", "input_size": canvas},
                args.weight_epochs,
                args,
            ),
            "n/a",
        ),
        Row(
            f"{prefix}/scratch",
            key,
            target,
            f"{name} (random init)",
            "from scratch (baseline)",
            f"{canvas} px resize, same architecture, random weights, {other_lr}",
            job(
                {"name": spec["name"]},
                data,
                {"kind": "scratch", "input_size": canvas},
                args.weight_epochs,
                args,
            ),
            "n/a (nearest: Caltech 101 from scratch, 38.95 %)",
        ),
    ]
    if mnist:
        rows.append(
            Row(
                f"{prefix}/elsayed_l2",
                key,
                target,
                source,
                "adversarial program, Elsayed et al., with L2",
                "as Elsayed's row, λ = 0.01",
                job(spec, data, {**elsayed, "l2": 0.01}, args.epochs, args),
                program_thesis,
                extra=True,
            )
        )
    learned = program_method("learned", "full", canvas)
    for lr in LR_STUDY:
        study = job(spec, data, learned, args.epochs, args)
        study["hyperparameters"]["lr"] = lr
        rows.append(
            Row(
                f"{prefix}/{learned_at(lr)}",
                key,
                target,
                source,
                "adversarial program, full canvas, learned mapping (lr study)",
                f"as the learned-mapping row, lr {lr:g}",
                study,
                "n/a",
                extra=True,
            )
        )
    return rows


def table31_rows(args: argparse.Namespace) -> list[Row]:
    """The thesis's Table 3.1 rows that run here: scratch models reprogrammed to the other task."""
    size, image = args.transfer_size, args.transfer_image
    pairs = (
        ("fashion_mnist", "mnist_5k", "89.40 % (its Fashion-MNIST CNN)", "12.30 %"),
        ("mnist_5k", "fashion_mnist", "99.25 % (its MNIST CNN)", "14.94 %"),
    )
    rows = []
    for source, target, source_thesis, target_thesis in pairs:
        source_id = f"table31/{source}_scratch"
        rows.append(
            Row(
                source_id,
                "table31",
                source,
                f"EfficientNet-Lite0 (random init), {size} px",
                "from scratch: the source model",
                f"{size} px resize, saved as an artifact",
                job(
                    {"name": "efficientnet_lite0"},
                    dataset(source, args.transfer_per_class, args),
                    {"kind": "scratch", "input_size": size},
                    args.transfer_epochs,
                    args,
                ),
                source_thesis,
                saves_artifact=True,
            )
        )
        method = {
            "kind": "adversarial_program",
            "label_mapping": "first_k",
            "region": "border",
            "operation": "add",
            "canvas_size": size,
            "image_size": image,
            "l2": args.l2,
        }
        rows.append(
            Row(
                f"table31/{source}_to_{target}",
                "table31",
                target,
                f"the {source} scratch model above",
                "adversarial program, Elsayed et al.",
                f"{image} px image at centre of its {size} px canvas, border program, "
                "first-10 labels (its own classes)",
                job(
                    {"artifact": str(artifact_dir(args, source_id))},
                    dataset(target, args.transfer_per_class, args),
                    method,
                    args.transfer_epochs,
                    args,
                ),
                target_thesis,
                needs=source_id,
            )
        )
    return rows


def artifact_dir(args: argparse.Namespace, row_id: str) -> Path:
    """Where a row's artifact is kept (git-ignored: a host model is rebuilt when it is needed)."""
    return args.artifacts / row_id.replace("/", "__")


MAPPING_ROWS = [f"full_{m}" for m in MAPPINGS]
PROMPT_ROWS = ["smm", "scaling", "linear_probe", "elsayed"]
FIRST_TARGETS = ["mnist_5k", "animal_mnist"]


def run_order(row: Row) -> tuple[int, ...]:
    """Where a row comes in the run: the most telling first.

    EfficientNet-Lite0's label mappings on mnist_5k and animal_mnist, then its prompts and probe
    there; the same for MobileNetV2; then fashion_mnist; then the weight-training baselines;
    then the thesis's Table 3.1; then the extras.
    """
    if row.extra:
        return (9,)
    if row.group == "table31":
        return (8,)
    backbone = list(BACKBONES).index(row.group)
    target = list(TARGETS).index(row.target)
    methods = MAPPING_ROWS + PROMPT_ROWS
    method = methods.index(row.name) if row.name in methods else len(methods)
    if row.name in ("finetune", "scratch"):
        return (7, backbone, target, method)
    if row.target in FIRST_TARGETS:
        part = 0 if row.name in MAPPING_ROWS else 1
        return (2 * backbone + part, FIRST_TARGETS.index(row.target), method)
    return (4 + backbone, target, method)


def plan(args: argparse.Namespace) -> list[Row]:
    """Every row, in the order they run: the cheap and telling ones first."""
    keys = [k.strip() for k in args.backbones.split(",") if k.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [k for k in keys if k not in BACKBONES] + [t for t in targets if t not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown backbone or target: {', '.join(unknown)}")
    rows = [row for key in keys for target in targets for row in backbone_rows(key, target, args)]
    rows += table31_rows(args)
    rows.sort(key=run_order)
    chosen = [row for row in rows if args.extra or not row.extra]
    if args.only:
        patterns = [p.strip() for p in args.only.split(",") if p.strip()]
        chosen = [r for r in chosen if any(fnmatch.fnmatch(r.id, p) for p in patterns)]
    return chosen


def result_path(args: argparse.Namespace, row: Row) -> Path:
    """The JSON file of a row's result."""
    return args.out / f"{row.id.replace('/', '__')}.json"


def load_result(args: argparse.Namespace, row: Row) -> dict[str, Any] | None:
    """A row's stored result if it is for the same spec and still usable, else None."""
    path = result_path(args, row)
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if stored.get("spec") != row.spec or "error" in stored:
        return None
    trains_weights = row.spec["method"]["kind"] in ("finetune", "scratch")
    if trains_weights and "bn_recomputed_test_accuracy" not in stored.get("diagnostics", {}):
        return None
    return stored


def print_epoch(metrics: dict[str, Any]) -> None:
    """Progress line for one finished epoch."""
    print(
        f"  epoch {metrics['epoch']}/{metrics['epochs']}: "
        f"train {pct(metrics['train_accuracy'])}, val {pct(metrics['val_accuracy'])}, "
        f"test {pct(metrics.get('test_accuracy'))}, "
        f"{metrics['images_per_s']:.1f} images/s, {metrics['epoch_s']:.1f} s",
        flush=True,
    )


@contextmanager
def test_every_epoch() -> Iterator[dict[str, Any]]:
    """While a job runs, its epoch metrics also carry the test accuracy after that epoch.

    The engine evaluates the test split once, at the end; for the plateau the table needs it
    after every epoch. This wraps the engine's two stage builders to keep the stage and test
    split they return, and the epoch callback from `epoch_callback` evaluates them. The
    callback gets the same dict the engine appends to its history, so the history carries it.
    Training is unchanged: evaluation runs in inference mode and draws no random numbers.
    """
    seen: dict[str, Any] = {}
    names = ("_image_stage", "_feature_stage")
    originals = {name: getattr(engine_job, name) for name in names}

    def keeping(original: Any) -> Any:
        def staged(*args: Any, **kwargs: Any) -> Any:
            stage, train, val, test = original(*args, **kwargs)
            seen["stage"], seen["test"] = stage, test
            return stage, train, val, test

        return staged

    for name, original in originals.items():
        setattr(engine_job, name, keeping(original))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(engine_job, name, original)


def epoch_callback(seen: dict[str, Any], batch_size: int) -> Any:
    """An on_epoch callback that adds test accuracy to the epoch's metrics, then prints them."""

    def on_epoch(metrics: dict[str, Any]) -> None:
        if "stage" in seen:
            measured = evaluate(seen["stage"], seen["test"], batch_size=max(batch_size, 256))
            metrics["test_accuracy"] = measured["accuracy"]
        print_epoch(metrics)

    return on_epoch


def recompute_batch_norm(
    model: nn.Module, images: torch.Tensor, *, device: torch.device, bf16: bool, batch: int = 256
) -> None:
    """Replace batch-norm running statistics by their exact average over `images`."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    size = model.input_size
    model.train()
    with torch.no_grad():
        for chunk in images.split(batch):
            with autocast(device, bf16):
                model(to_model_input(chunk.to(device), size))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.eval()


def model_accuracy(model: nn.Module, part: ImageSet, *, device: torch.device, bf16: bool) -> float:
    """Accuracy of a model (in eval mode) on a split."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for index in torch.arange(len(part)).split(256):
            with autocast(device, bf16):
                logits = model(to_model_input(part.images[index].to(device), model.input_size))
            correct += int((logits.argmax(1).cpu() == part.labels[index]).sum())
    return correct / max(1, len(part))


def engine_commit() -> str:
    """The repository's commit, with '+dirty' when reprogramming/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "reprogramming"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def run_row(args: argparse.Namespace, row: Row, data_dir: Path) -> dict[str, Any]:
    """Run one row's job and return what the table needs."""
    device = pick_device(args.device)

    output = artifact_dir(args, row.id) if row.saves_artifact else None
    if output is not None and output.exists():
        shutil.rmtree(output)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    with test_every_epoch() as seen:
        result = run_job(
            row.spec,
            output_dir=output,
            data_dir=data_dir,
            on_epoch=epoch_callback(seen, args.batch_size),
            on_log=lambda message: print(f"  {message}", flush=True),
        )
    wall = time.perf_counter() - started
    metrics = result.metrics
    diagnostics: dict[str, Any] = {}
    if row.spec["method"]["kind"] in ("finetune", "scratch"):
        splits = load_dataset(DatasetSpec(**row.spec["dataset"]), data_dir=data_dir)
        bf16 = use_bf16(args.precision, device, training_weights=True)
        recompute_batch_norm(result.model, splits.train.images, device=device, bf16=bf16)
        diagnostics["bn_recomputed_test_accuracy"] = model_accuracy(
            result.model, splits.test, device=device, bf16=bf16
        )
        print(
            "  test accuracy with batch-norm statistics recomputed on the training images: "
            f"{pct(diagnostics['bn_recomputed_test_accuracy'])}",
            flush=True,
        )
    return {
        "diagnostics": diagnostics,
        "id": row.id,
        "spec": row.spec,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
        "history": result.history,
        "info": {k: v for k, v in result.info.items() if isinstance(v, int | float | str | bool)},
        "wall_s": wall,
        "sizes": {
            "train": metrics["train_size"],
            "val": metrics["val_size"],
            "test": metrics["test_size"],
        },
        "epochs": metrics["epochs"],
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": describe_device(device),
        "torch": torch.__version__,
        "engine_commit": engine_commit(),
        "load_at_start": load,
        "command": command_line(),
        "artifact": shown_path(output) if output is not None else None,
        "lr": parse_spec(row.spec).hyperparameters.lr,
    }


def shown_path(path: Path) -> str:
    """A path relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def pct(value: float | None) -> str:
    """An accuracy as a percentage, or '–'."""
    if value is None or value != value:
        return "–"
    return f"{100 * value:.2f} %"


def speed(result: dict[str, Any]) -> str:
    """Images/s of the part that bounds the method: features for a probe, training otherwise."""
    info, metrics = result["info"], result["metrics"]
    if result["spec"]["method"]["kind"] == "linear_probe" and info.get("feature_s"):
        images = sum(result["sizes"].values())
        return f"{images / info['feature_s']:.1f} (features, cache {info.get('feature_cache')})"
    return f"{metrics['images_per_s']:.1f} (training)"


def recomputed_note(result: dict[str, Any]) -> str:
    """' (x % †)': the test accuracy once batch-norm statistics are recomputed, if measured."""
    value = result.get("diagnostics", {}).get("bn_recomputed_test_accuracy")
    return "" if value is None else f" ({pct(value)} †)"


def row_cells(row: Row, result: dict[str, Any] | None) -> list[str]:
    """The markdown cells of one row."""
    if result is None:
        return [row.source, TARGETS[row.target], row.method_label, row.setup, "–", "–", "not run yet", "–", "–", "–", row.thesis, row.reference]  # fmt: skip
    if "error" in result:
        return [row.source, TARGETS[row.target], row.method_label, row.setup, "–", "–", f"failed: {result['error']}", "–", "–", "–", row.thesis, row.reference]  # fmt: skip
    s, m = result["sizes"], result["metrics"]
    return [
        row.source,
        TARGETS[row.target],
        row.method_label,
        row.setup,
        f"{s['train']:,} / {s['val']:,} / {s['test']:,}",
        str(result["epochs"]),
        f"**{pct(m['test_accuracy'])}**" + recomputed_note(result),
        pct(m["train_accuracy"]),
        f"{result['wall_s']:.0f}",
        speed(result),
        row.thesis,
        row.reference,
    ]


HEADER = [
    "source model",
    "target",
    "method",
    "setup",
    "train / val / test",
    "epochs",
    "test acc",
    "train acc",
    "elapsed s",
    "images/s",
    "thesis (nearest cell)",
    "earlier run here (issue #2)",
]


DISPLAY_ORDER = [
    "linear_probe",
    "elsayed",
    "elsayed_l2",
    *MAPPING_ROWS,
    *(learned_at(lr) for lr in LR_STUDY),
    "smm",
    "scaling",
    "finetune",
    "scratch",
]


def display_rank(row: Row) -> int:
    """Where a row sits in its target's block of the table."""
    return DISPLAY_ORDER.index(row.name) if row.name in DISPLAY_ORDER else len(DISPLAY_ORDER)


def markdown(header: list[str], body: list[list[str]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def markdown_table(rows: list[tuple[Row, dict[str, Any] | None]]) -> list[str]:
    """The main table of rows."""
    return markdown(HEADER, [row_cells(row, result) for row, result in rows])


def usable(results: dict[str, dict[str, Any]], row_id: str) -> dict[str, Any] | None:
    """A finished row's result, or None."""
    result = results.get(row_id)
    return None if result is None or "error" in result else result


def accuracy(results: dict[str, dict[str, Any]], row_id: str) -> float | None:
    """A finished row's test accuracy, or None."""
    result = usable(results, row_id)
    return None if result is None else float(result["metrics"]["test_accuracy"])


def points(a: float, b: float) -> str:
    """'x.x points higher/lower than' between two accuracies."""
    diff = 100 * (a - b)
    if abs(diff) < 0.05:
        return "the same as"
    return f"{abs(diff):.1f} points {'higher' if diff > 0 else 'lower'} than"


def steps(result: dict[str, Any], batch_size: int) -> int:
    """Optimizer steps a row took."""
    return math.ceil(result["sizes"]["train"] / batch_size) * int(result["epochs"])


def noise(results: dict[str, dict[str, Any]], *row_ids: str) -> float:
    """Two standard errors of the difference of two test accuracies, as a fraction."""
    variance = 0.0
    for row_id in row_ids:
        result = results[row_id]
        p, n = float(result["metrics"]["test_accuracy"]), max(1, result["sizes"]["test"])
        variance += p * (1 - p) / n
    return 2 * math.sqrt(variance)


def blocks(rows: list[Row]) -> list[tuple[str, str]]:
    """The (backbone, target) pairs of the plan, in display order."""
    pairs = {(r.group, r.target) for r in rows if r.group in BACKBONES}
    return sorted(pairs, key=lambda p: (list(BACKBONES).index(p[0]), list(TARGETS).index(p[1])))


def block_name(key: str, target: str) -> str:
    """'EfficientNet-Lite0 → mnist_5k'."""
    return f"{BACKBONES[key][1]} → {target}"


def late_gain(history: list[dict[str, Any]], field: str = "val_accuracy") -> float | None:
    """Mean accuracy of the last 5 epochs minus that of the 5 before, in points."""
    values = [h.get(field) for h in history]
    if len(values) < 10 or any(v is None for v in values[-10:]):
        return None
    return 100 * (sum(values[-5:]) - sum(values[-10:-5])) / 5


def plateau_section(rows: list[Row], results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:  # fmt: skip
    """Accuracy against epochs for one program row, and whether each program row flattened."""
    lines = ["## Plateau: accuracy against epochs", ""]
    programs = [
        r for r in rows if r.group in BACKBONES and r.name in PROGRAM_ROWS and usable(results, r.id)
    ]
    if not programs:
        return [*lines, "No program row has finished yet.", ""]

    def preference(row: Row) -> tuple[int, int]:
        rank = PLATEAU_ROWS.index(row.name) if row.name in PLATEAU_ROWS else len(PLATEAU_ROWS)
        return (0 if row.group == "lite0" and row.target == "mnist_5k" else 1, rank)

    chosen = min(programs, key=preference)
    result = results[chosen.id]
    per_epoch = math.ceil(result["sizes"]["train"] / args.batch_size)
    lines += [
        f"`{chosen.id}` ({chosen.method_label}; {chosen.setup}; "
        f"{result['sizes']['train']:,} training images, batch {args.batch_size}, "
        f"{per_epoch} steps per epoch):",
        "",
    ]
    body = [
        [
            str(h["epoch"]),
            str(h["epoch"] * per_epoch),
            pct(h["train_accuracy"]),
            pct(h["val_accuracy"]),
            pct(h.get("test_accuracy")),
            f"{h.get('elapsed_s', float('nan')):.0f}",
        ]
        for h in result["history"]
    ]
    lines += markdown(["epoch", "steps", "train acc", "val acc", "test acc", "elapsed s"], body)
    lines += [
        "",
        "Every finished program row: test accuracy after a few epochs and at the end, and the "
        "validation gain of its last five epochs over the five before (“flat” when under one "
        "point, which is within the noise of a validation set this size).",
        "",
    ]
    marks = sorted({5, 10, 20} | {int(results[r.id]["epochs"]) for r in programs})
    body = []
    for row in sorted(programs, key=lambda r: (r.group, list(TARGETS).index(r.target), display_rank(r))):  # fmt: skip
        history = results[row.id]["history"]
        at = {h["epoch"]: h.get("test_accuracy") for h in history}
        gain = late_gain(history)
        verdict = "–" if gain is None else f"{gain:+.1f} ({'flat' if abs(gain) < 1 else 'still moving'})"  # fmt: skip
        best = max(history, key=lambda h: h["val_accuracy"] or 0.0)
        body.append(
            [f"`{row.id}`"]
            + [pct(at.get(mark)) for mark in marks]
            + [f"{pct(best['val_accuracy'])} (epoch {best['epoch']})", verdict]
        )
    lines += markdown(
        ["row"] + [f"test @ {m}" for m in marks] + ["best val", "val gain, last 5 epochs"], body
    )
    return [*lines, ""]


def ordering_section(rows: list[Row], results: dict[str, dict[str, Any]]) -> list[str]:
    """One table: does first_k < frequency < iterative < BLM < BLM+ hold per backbone × dataset?"""
    lines = [
        "## Label mappings: does first_k < frequency < iterative < BLM < BLM+ hold?",
        "",
        "The BLM paper (Cai et al., NeurIPS 2024) orders the mappings of a shared program this "
        "way. Here each is the full-canvas program with that mapping, everything else equal "
        "(the learned mapping is shown for reference, outside the order). A pair out of order "
        "by less than two standard errors of the difference (binomial, on the test set) is "
        "marked “within noise”.",
        "",
    ]
    body, holds, complete = [], 0, 0
    # Blocks out of order only within noise; where BLM and BLM+ beat the one-to-one maps; where
    # the learned map beats all five.
    noisy, bayes_ahead, learned_ahead = 0, 0, 0
    for key, target in blocks(rows):
        ids = [f"{key}/{target}/full_{m}" for m in MAPPING_ORDER]
        accs = [accuracy(results, i) for i in ids]
        learned = accuracy(results, f"{key}/{target}/full_learned")
        if all(a is None for a in accs):
            continue
        if any(a is None for a in accs):
            verdict = f"incomplete ({sum(a is not None for a in accs)} of {len(accs)})"
        else:
            complete += 1
            broken, beyond_noise = [], 0
            for i in range(len(ids) - 1):
                a, b = accs[i], accs[i + 1]
                if a is not None and b is not None and not a < b:
                    within = a - b < noise(results, ids[i], ids[i + 1])
                    beyond_noise += not within
                    tag = " (within noise)" if within else ""
                    broken.append(f"{MAPPING_ORDER[i]} ≥ {MAPPING_ORDER[i + 1]}{tag}")
            holds += not broken
            noisy += bool(broken) and not beyond_noise
            known = [a for a in accs if a is not None]
            bayes_ahead += min(known[3:]) > max(known[:3])
            learned_ahead += learned is not None and learned > max(known)
            verdict = "**yes**" if not broken else "no: " + "; ".join(broken)
        body.append([block_name(key, target)] + [pct(a) for a in accs] + [pct(learned), verdict])
    if not body:
        return [*lines, "No mapping row has finished yet.", ""]
    lines += markdown(
        [
            "backbone → dataset",
            "first_k",
            "frequency",
            "iterative",
            "BLM",
            "BLM+",
            "(learned)",
            "order holds?",
        ],
        body,
    )
    if complete:
        lines += [
            "",
            f"The order holds strictly in {holds} of {complete} complete blocks, and up to "
            f"noise in {holds + noisy}. Both Bayesian mappings beat every one-to-one mapping "
            f"(first_k, frequency, iterative) in {bayes_ahead} of {complete}; the learned "
            f"mapping beats all five in {learned_ahead} of {complete}.",
        ]
    return [*lines, ""]


def against(
    results: dict[str, dict[str, Any]],
    prefix: str,
    value: float | None,
    name: str,
    plain: float | None,
) -> str:
    """A prompt row's accuracy beside the plain program's: the difference, and whether it beats it."""
    if value is None or plain is None:
        return pct(value)
    tag = "beats" if value > plain else "does not beat"
    within = abs(value - plain) < noise(results, f"{prefix}/{name}", f"{prefix}/full_learned")
    return f"{pct(value)} ({100 * (value - plain):+.1f}; {tag}{', within noise' if within else ''})"


def prompt_section(rows: list[Row], results: dict[str, dict[str, Any]]) -> list[str]:
    """Where SMM and input scaling beat the plain program, and the best input-space method."""
    lines = [
        "## Input prompts: SMM and input scaling against the plain program, and the probe",
        "",
        "Plain program: the full-canvas program with a learned mapping; SMM and input scaling "
        "add their prompt to that same program and mapping. “Best input-space” is the best of "
        "every program row of the block (the input is all they change; the backbone stays "
        "frozen). The linear probe reads the frozen features at its own input side (see its "
        "row), so “reaches the probe” compares what each achieves here, not equal inputs.",
        "",
    ]
    body, said = [], []
    for key, target in blocks(rows):
        prefix = f"{key}/{target}"
        plain, smm, scaling = (accuracy(results, f"{prefix}/{n}") for n in ("full_learned", "smm", "scaling"))  # fmt: skip
        probe = accuracy(results, f"{prefix}/linear_probe")
        inputs = [(accuracy(results, f"{prefix}/{n}"), n) for n in PROGRAM_ROWS]
        inputs = [(a, n) for a, n in inputs if a is not None]
        if not inputs and probe is None:
            continue
        best = max(inputs) if inputs else None

        if best is None or probe is None:
            reaches = "–"
        else:
            reaches = "**yes**" if best[0] >= probe else f"no ({100 * (best[0] - probe):+.1f})"
        body.append(
            [
                block_name(key, target),
                pct(plain),
                against(results, prefix, smm, "smm", plain),
                against(results, prefix, scaling, "scaling", plain),
                "–" if best is None else f"{pct(best[0])} (`{best[1]}`)",
                pct(probe),
                reaches,
            ]
        )
        if best is not None and probe is not None:
            said.append((block_name(key, target), best, probe))
    if not body:
        return [*lines, "No prompt, program or probe row has finished yet.", ""]
    lines += markdown(
        [
            "backbone → dataset",
            "plain program",
            "SMM",
            "input scaling",
            "best input-space",
            "linear probe",
            "best input-space ≥ probe?",
        ],
        body,
    )
    if said:
        reached = [name for name, best, probe in said if best[0] >= probe]
        lines += [
            "",
            f"The best input-space method reached the linear probe in {len(reached)} of "
            f"{len(said)} blocks where both ran"
            + (f" ({', '.join(reached)})." if reached else "."),
        ]
    return [*lines, ""]


def lr_section(rows: list[Row], results: dict[str, dict[str, Any]]) -> list[str]:
    """The learned-map program at lr 0.003, 0.01 (the default) and 0.03, chosen by validation."""
    lrs = sorted((*LR_STUDY, DEFAULT_PROGRAM_LR))
    lines = [
        "## The program's learning rate",
        "",
        "The full-canvas program with a learned mapping (the engine's default method) at the "
        f"engine's default lr {DEFAULT_PROGRAM_LR:g} and either side of it, everything else "
        "equal (`--extra` runs the other two). Each cell is validation / test accuracy after "
        "the last epoch; the lr a user would pick is the one with the best validation accuracy.",
        "",
    ]
    body, picks, complete = [], [], []
    for key, target in blocks(rows):
        prefix = f"{key}/{target}"
        found = [usable(results, f"{prefix}/{learned_at(lr)}") for lr in lrs]
        if not any(found):
            continue
        cells = [
            "–" if r is None else f"{pct(r['metrics']['val_accuracy'])} / {pct(r['metrics']['test_accuracy'])}"
            for r in found
        ]  # fmt: skip
        if all(found):
            val = [float(r["metrics"]["val_accuracy"]) for r in found if r is not None]
            best = max(range(len(lrs)), key=lambda i: val[i])
            picks.append(lrs[best])
            complete.append([r["metrics"] for r in found if r is not None])
            cells[best] = f"**{cells[best]}**"
        body.append([block_name(key, target), *cells])
    if not body:
        return [*lines, "No row of the lr study has finished yet.", ""]
    lines += markdown(["backbone → dataset", *(f"lr {lr:g}" for lr in lrs)], body)
    if picks:
        counts = ", ".join(f"{lr:g} in {picks.count(lr)}" for lr in lrs if picks.count(lr))
        means = "; ".join(
            f"lr {lr:g} {pct(mean(b[i]['val_accuracy'] for b in complete))} / "
            f"{pct(mean(b[i]['test_accuracy'] for b in complete))}"
            for i, lr in enumerate(lrs)
        )
        lines += [
            "",
            f"Best by validation, of {len(picks)} complete blocks: lr {counts}. Mean validation "
            f"/ test accuracy over those blocks: {means}.",
        ]
    return [*lines, ""]


SWEEPS = ROOT / "bench" / "results" / "sweep"  # bench/sweep_vs_hand.py's results
WEIGHT_ROWS = ("finetune", "scratch")  # rows that train the backbone's weights


def sweep_section(rows: list[Row], results: dict[str, dict[str, Any]]) -> list[str]:
    """A sweep's best trial (bench/sweep_vs_hand.py) against the best hand-picked row."""
    lines = ["## A sweep's best trial against the best hand-picked row", ""]
    found = sorted(SWEEPS.glob("*.json")) if SWEEPS.is_dir() else []
    if not found:
        return [
            *lines,
            "Not measured yet: `.venv/bin/python bench/sweep_vs_hand.py` runs a sweep through "
            "the service over the same data and sizes as the rows above.",
            "",
        ]
    lines += [
        "`bench/sweep_vs_hand.py` runs a sweep through the service (`POST /v1/sweeps`: TPE, "
        "median pruner, objective validation accuracy, the probe at lr 1e-3 tried first as "
        "`auto` does) over the linear probe and the full-canvas program with a learned or BLM+ "
        "mapping, each with a log-uniform lr in [1e-4, 0.1], on the same data and sizes as "
        "the table's rows; every trial trains as many epochs as the table's program rows "
        "(its probe row trains fewer). The hand-picked side is the table's frozen-backbone row of that "
        "block (the sweep's own methods: probe and programs; fine-tuning and scratch train "
        "the weights) with the best validation accuracy, the sweep's criterion; both report "
        "test accuracy once.",
        "",
        "| block | sweep: trials (pruned) | sweep's best trial | its val / test | "
        "best hand-picked row (by val) | its val / test | sweep wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    sweeps = [json.loads(path.read_text()) for path in found]
    for sweep in sweeps:
        prefix = f"{sweep['backbone']}/{sweep['target']}/"
        picked = [
            (float(results[r.id]["metrics"]["val_accuracy"]), r)
            for r in rows
            if r.id.startswith(prefix) and usable(results, r.id) and r.name not in WEIGHT_ROWS
        ]
        best = sweep.get("best_trial") or {}
        pruned = sum(t["state"] == "pruned" for t in sweep["trials"])
        trial = f"#{best.get('number')}: {best.get('method')}, lr {best.get('lr', 0):.2g}"
        if picked:
            val, row = max(picked, key=lambda pair: pair[0])
            test = float(results[row.id]["metrics"]["test_accuracy"])
            hand = f"`{row.name}` | {pct(val)} / {pct(test)}"
        else:
            hand = "no row done yet | –"
        lines.append(
            f"| {block_name(sweep['backbone'], sweep['target'])} | {len(sweep['trials'])} "
            f"({pruned}) | {trial} | {pct(sweep['best_value'])} / "
            f"{pct(sweep['test_accuracy'])} | {hand} | {sweep['wall_s'] / 60:.0f} min |"
        )
    lines.append("")
    for sweep in sweeps:
        trials = [
            f"trial {t['number']} {t['method']} lr {t['lr']:.2g}: {t['state']}, "
            f"val {pct(t['val_accuracy'])}"
            for t in sweep["trials"]
            if t.get("lr") is not None
        ]
        name = block_name(sweep["backbone"], sweep["target"])
        lines += [f"Trials of {name}: " + "; ".join(trials) + ".", ""]
    return lines


def findings(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """The 'what the numbers say' paragraphs, written from whichever rows have finished."""
    out: list[str] = []
    for key, (_spec, backbone) in BACKBONES.items():
        for target in TARGETS:
            prefix = f"{key}/{target}"
            lp, el = accuracy(results, f"{prefix}/linear_probe"), accuracy(results, f"{prefix}/elsayed")  # fmt: skip
            ff, fl = accuracy(results, f"{prefix}/full_first_k"), accuracy(results, f"{prefix}/full_learned")  # fmt: skip
            ft, sc = accuracy(results, f"{prefix}/finetune"), accuracy(results, f"{prefix}/scratch")  # fmt: skip
            said: list[str] = []
            if lp is not None and el is not None:
                said.append(
                    f"the linear probe reached {pct(lp)}, {points(lp, el)} Elsayed et al.'s "
                    f"border program with the hard-coded first-10 mapping ({pct(el)})"
                )
            if el is not None and ff is not None and fl is not None:
                said.append(
                    f"resizing the image onto the whole canvas gave {pct(ff)} with the first-10 "
                    f"mapping and {pct(fl)} with a learned mapping, so the two changes together "
                    f"moved Elsayed's accuracy by {100 * (fl - el):+.1f} points"
                )
            if ft is not None and lp is not None:
                said.append(
                    f"fine-tuning every weight reached {pct(ft)} ({points(ft, lp)} the probe) "
                    f"and took {results[f'{prefix}/finetune']['wall_s']:.0f} s against the "
                    f"probe's {results[f'{prefix}/linear_probe']['wall_s']:.0f} s"
                )
            if sc is not None:
                said.append(
                    f"the same architecture from random weights reached {pct(sc)} with the same "
                    "budget" + (f", {points(sc, lp)} the probe" if lp is not None else "")
                )
            if said:
                text = "; ".join(said)
                out.append(f"**{backbone} → {TARGETS[target]}.** {text[0].upper()}{text[1:]}.")
    el = usable(results, "lite0/mnist_5k/elsayed")
    if el is not None:
        acc = float(el["metrics"]["test_accuracy"])
        relation = "below" if acc < 0.9436 else "at or above"
        out.append(
            f"**Against the thesis.** Elsayed's method here ran {steps(el, args.batch_size)} Adam "
            f"steps at lr {el.get('lr', args.lr)} on {el['sizes']['train']:,} images at a "
            f"{el['spec']['method']['canvas_size']}-px canvas and ended {relation} the thesis's 94.36 %, which came from "
            "ResNet50V2 at 224 px after about 12 GPU-hours; the earlier run here (issue #2) got "
            "70–78 % with 4,000 images at a 112-px canvas, i.e. 96 steps. The thesis reports no "
            "MNIST number for its own linear-probe method (its ImageNet → Caltech 101 average "
            "was 82.07 %)."
        )
    said, hosts = [], []
    for source, target, thesis in (
        ("fashion_mnist", "mnist_5k", 12.30),
        ("mnist_5k", "fashion_mnist", 14.94),
    ):
        acc = accuracy(results, f"table31/{source}_to_{target}")
        host = accuracy(results, f"table31/{source}_scratch")
        if acc is None:
            continue
        direct = accuracy(results, f"table31/{target}_scratch")
        said.append(
            f"{source} → {target} reached {pct(acc)} against {thesis:.2f} % in the thesis "
            f"(the host scores {pct(host)} on its own {source} test set; the same architecture "
            f"trained on {target} directly at the same size, {pct(direct)})"
        )
        if host is not None and host > 2 * CHANCE:
            hosts.append(acc)
    if said:
        if not hosts:
            verdict = (
                "no host here scored well above chance on its own task, so these rows say "
                "nothing yet about reprogramming it"
            )
        elif max(hosts) < 2 * CHANCE:
            verdict = (
                "like the thesis, a small model trained on one simple task hosts an adversarial "
                "program for another barely better than chance (10 %)"
            )
        else:
            verdict = (
                f"the best program here reaches {pct(max(hosts))}, "
                f"{points(max(hosts), CHANCE)} the 10 % of chance"
            )
        out.append(
            "**Table 3.1 (scratch models reprogrammed by Elsayed's method).** "
            + "; ".join(said)
            + ". A host is only informative if it scores well above chance on its own task; "
            f"{verdict}."
        )
    gaps = [
        (row_id, float(r["metrics"]["test_accuracy"]), float(r["diagnostics"][key]))
        for row_id, r in results.items()
        if "error" not in r and (key := "bn_recomputed_test_accuracy") in r.get("diagnostics", {})
    ]
    if gaps:
        worst = max(gaps, key=lambda g: abs(g[2] - g[1]))
        stale = abs(worst[2] - worst[1]) > 0.05
        out.append(
            "**Batch-norm statistics.** For the rows that train weights (fine-tune, scratch), the "
            "test accuracy with the stored statistics and with statistics recomputed on the "
            "training images differ by up to "
            f"{100 * abs(worst[2] - worst[1]):.1f} points (`{worst[0]}`: {pct(worst[1])} → "
            f"{pct(worst[2])}). "
            + (
                "With gaps this size the reported accuracy of those rows reflects stale "
                "running statistics rather than what the weights learned."
                if stale
                else "That is small: the stored statistics describe the trained weights."
            )
        )
    out.append(
        "**How to read this.** Every row uses Adam, batch "
        f"{args.batch_size} and {'lr ' + format(args.lr, 'g') if args.lr else 'the engine’s own lr per method (0.01 for programs, whose weights start at 0 and move about lr per step; the thesis’s 1e-3 elsewhere)'}"
        ", with the epochs and sizes in its own cells; rows with fewer training images, "
        "epochs or pixels than the thesis are not its numbers reproduced, only the same methods "
        "measured side by side on one machine. Test sets of a few hundred images carry about "
        "±2–3 points of sampling noise. Elapsed time is wall-clock for the whole job (data, "
        "backbone, training, per-epoch validation and test), on the device named below."
    )
    return out


def load_text(load: float | None) -> str:
    """A load average with one decimal, or '–' when unknown."""
    return "–" if load is None or load != load else f"{load:.1f}"


def sizes_text(args: argparse.Namespace) -> str:
    """The sizes every row of this run shares, for the page's header."""
    cap = "all" if args.per_class is None else f"{args.per_class}"
    return (
        f"training images per class: {cap} (linear probe: "
        f"{'all' if args.lp_per_class is None else args.lp_per_class}), validation "
        f"{args.val_fraction:g} of the training pool (capped in proportion), test at most "
        f"{args.test_per_class or 'all'} per class (mnist_5k and animal_mnist: 20 % held out; "
        f"fashion_mnist: its official test set); canvas / input side of the image-space "
        f"methods {args.canvas} px, linear probe {args.lp_size} px; epochs: programs "
        f"{args.epochs}, linear probe {args.lp_epochs}, fine-tune and scratch "
        f"{args.weight_epochs}"
    )


def write_markdown(args: argparse.Namespace, rows: list[Row], results: dict[str, Any]) -> None:
    """Rewrite docs/results.md from the plan and whichever results exist."""
    done = [r for r in rows if usable(results, r.id)]
    devices = sorted({results[r.id]["device"] for r in done}) or ["–"]
    lines = [
        "# Results: accuracy of each reprogramming method",
        "",
        "Written by `bench/accuracy_table.py` (do not edit by hand; rerun it). "
        f"Last update {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; "
        f"{len(done)} of {len(rows)} rows done.",
        "",
        f"- Device: {'; '.join(devices)}. Precision `{args.precision}` "
        "(bf16 autocast on CUDA, and for frozen backbones on a CPU with native bf16; the "
        "runs table says per row).",
        f"- Hyperparameters: Adam, "
        f"{'lr ' + format(args.lr, 'g') if args.lr else 'the engine’s lr per method (programs 0.01, the rest 1e-3)'}, "
        f"batch {args.batch_size}, seed {args.seed}.",
        f"- Sizes of this run ({'the thesis’s, `--full`' if args.full else 'CPU-sized; `--full` for the thesis’s'}): "
        f"{sizes_text(args)}. Each row's own cells give its images and epochs.",
        "- Thesis numbers: Kloberdanz (2020), Tables 3.1 and 5.1; “n/a” where it has no "
        "comparable cell. “Earlier run here” is the reference in issue #2 (EfficientNet-Lite0 "
        "only).",
        "- † A check on the engine: test accuracy after this script re-estimated the "
        "batch-norm running statistics of a model whose weights trained, over all its training "
        "images (one forward pass in train mode, no weight change); the engine re-estimates "
        "them after each epoch, and the two numbers should agree.",
        "- images/s: for the linear probe, backbone feature extraction (the part that bounds "
        "it; its epochs run on cached features); otherwise mean training images/s.",
        "",
    ]
    for key, (_spec, name) in BACKBONES.items():
        block = [(r, results.get(r.id)) for r in rows if r.group == key]
        if not block:
            continue
        block.sort(key=lambda pair: (list(TARGETS).index(pair[0].target), display_rank(pair[0])))
        lines += [f"## {name} (ImageNet weights) → new tasks", ""]
        lines += markdown_table(block)
        lines += [""]
    lines += [
        "## The thesis's Table 3.1: models trained from scratch, reprogrammed to the other task",
        "",
    ]
    lines += markdown_table([(r, results.get(r.id)) for r in rows if r.group == "table31"])
    lines += [""]
    lines += plateau_section(rows, results, args)
    lines += ordering_section(rows, results)
    lines += prompt_section(rows, results)
    lines += lr_section(rows, results)
    lines += sweep_section(rows, results)
    lines += ["## What the numbers say", ""]
    for paragraph in findings(results, args):
        lines += [paragraph, ""]
    commands = list(dict.fromkeys(results[r.id]["command"] for r in done))
    lines += ["## Runs", "", "Commands (run from the repository root):", ""]
    lines += [f"{n}. `{command}`" for n, command in enumerate(commands, start=1)]
    lines += [
        "",
        "| row | finished | device | load at start | bf16 | engine commit | elapsed s | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in done:
        result = results[row.id]
        lines.append(
            f"| `{row.id}` | {result['date']} | {result['device']} | "
            f"{load_text(result.get('load_at_start'))} | "
            f"{result['info'].get('bf16')} | {result.get('engine_commit', '–')} | "
            f"{result['wall_s']:.0f} | "
            f"{commands.index(result['command']) + 1} |"
        )
    lines += [
        "",
        "“Load at start” is the machine's 1-minute load average when the row began: above the "
        "number of cores, other work shared the CPU and that row's elapsed time and images/s "
        "are slower than the machine can do (accuracy is unaffected).",
        "",
        "Each row's full result (spec, metrics, per-epoch train / validation / test history) is "
        f"in `{shown_path(args.out)}/<row>.json`, committed with this page. Reproduce: "
        "`.venv/bin/python bench/accuracy_table.py` (CPU-sized, resumable; `--fresh` redoes "
        "finished rows, `--only 'lite0/mnist_5k/*'` runs a subset, `--extra` adds λ = 0.01 and the lr study); "
        "on a GPU, `--full --device cuda` uses every training image and a 224-px canvas.",
        "",
    ]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines))


def run_and_record(
    args: argparse.Namespace,
    row: Row,
    data_dir: Path,
    results: dict[str, Any],
    every_row: list[Row],
) -> dict[str, Any]:
    """Run one row, store its JSON, drop what depended on its old artifact; return its result."""
    try:
        result = run_row(args, row, data_dir)
    except Exception as exc:  # one failed row must not lose the others
        traceback.print_exc()
        result = {"id": row.id, "spec": row.spec, "error": f"{type(exc).__name__}: {exc}"}
    result_path(args, row).write_text(json.dumps(result, indent=2, default=float))
    results[row.id] = result
    for later in every_row:  # a new host invalidates what was learned on the old one
        if later.needs == row.id and later.id in results:
            del results[later.id]
            result_path(args, later).unlink(missing_ok=True)
    if "error" not in result:
        m = result["metrics"]
        print(
            f"  → test {pct(m['test_accuracy'])}, train {pct(m['train_accuracy'])}, "
            f"{result['wall_s']:.0f} s",
            flush=True,
        )
    return result


def main() -> None:
    """Run every row not yet done, rewriting the results page after each."""
    args = parse_args()
    rows = plan(args)
    every_row = plan(argparse.Namespace(**{**vars(args), "only": None, "extra": True}))
    if args.list:
        for row in rows:
            print(f"{row.id:40s} {json.dumps(row.spec['method'])}")
        print(f"{len(rows)} rows")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for row in rows:
            result_path(args, row).unlink(missing_ok=True)
    results: dict[str, Any] = {}
    for row in every_row:
        stored = load_result(args, row)
        if stored is not None:
            results[row.id] = stored
    by_id = {row.id: row for row in every_row}
    # The page shows the default rows, plus extra ones that were asked for or have a result.
    everything = [r for r in every_row if not r.extra or args.extra or r.id in results]
    print(f"{command_line()}\n{len(rows)} rows planned, {sum(r.id in results for r in rows)} done")
    with fresh_data_dir(args.data_dir) as data_dir:
        for number, row in enumerate(rows, start=1):
            if row.id in results:
                print(f"[{number}/{len(rows)}] {row.id}: done already, skipped", flush=True)
                continue
            if row.needs is not None:
                host = by_id[row.needs]
                if not (artifact_dir(args, host.id) / "manifest.json").exists():
                    # Artifacts are not kept across sessions: train the host again first.
                    print(f"[{number}/{len(rows)}] {host.id}: its artifact is needed", flush=True)
                    run_and_record(args, host, data_dir, results, every_row)
                    write_markdown(args, everything, results)
                if "error" in results.get(row.needs, {"error": "not run"}):
                    print(f"[{number}/{len(rows)}] {row.id}: skipped, needs {row.needs}", flush=True)  # fmt: skip
                    continue
            print(f"[{number}/{len(rows)}] {row.id}: {json.dumps(row.spec['method'])}", flush=True)
            run_and_record(args, row, data_dir, results, every_row)
            write_markdown(args, everything, results)
    write_markdown(args, everything, results)
    print(f"wrote {args.results}")
    sys.exit(1 if any("error" in results.get(r.id, {}) for r in rows) else 0)


if __name__ == "__main__":
    main()
