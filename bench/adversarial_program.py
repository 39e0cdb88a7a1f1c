"""Adversarial program speed: the engine's training images/s vs the raw backbone's fwd+bwd.

Both run in this one process, side by side, at the same canvas size, batch size and precision:

(a) raw: the frozen backbone (eval, channels_last, bf16 autocast iff the engine picks it) on a
    canvas-sized input that requires grad, cross-entropy on its 1,000 source logits, backward to
    the input; only these passes are timed (inputs are made beforehand);
(b) the engine (`run_job`, method adversarial_program): its per-epoch training images/s, the
    mean over the epochs after the first (the first pays one-off warm-up costs).

The goal is (b) ÷ (a) ≥ 0.85: the program, label mapping, on-device resize and optimizer step
should cost little next to the backbone.

Run from the repository root: `.venv/bin/python bench/adversarial_program.py --canvas 112`.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
import torch.nn.functional as F
from common import (
    add_data_flags,
    add_training_flags,
    dataset_spec,
    describe_device,
    fresh_data_dir,
    hyperparameters,
    now,
    table,
    verdict,
)

from reprogramming.backbones import Backbone
from reprogramming.data import load_dataset
from reprogramming.factory import build_backbone
from reprogramming.images import to_model_input
from reprogramming.job import run_job
from reprogramming.runtime import autocast, pick_device, use_bf16
from reprogramming.spec import BackboneSpec, DatasetSpec

GOAL_RATIO = 0.85


def parse_args() -> argparse.Namespace:
    """Command-line flags; the defaults are the full-size benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_flags(parser, test_per_class=10)
    parser.add_argument("--canvas", type=int, default=224, help="canvas side (backbone input)")
    parser.add_argument(
        "--image-size", type=int, default=None, help="placed image side (default: whole canvas)"
    )
    parser.add_argument("--region", choices=("full", "border"), default="full")
    parser.add_argument(
        "--mapping",
        choices=("learned", "first_k", "random", "frequency", "iterative"),
        default="learned",
    )
    parser.add_argument("--epochs", type=int, default=3)
    add_training_flags(parser)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is left out of the mean)")
    return args


def job_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The engine's job spec for this benchmark."""
    method: dict[str, Any] = {
        "kind": "adversarial_program",
        "label_mapping": args.mapping,
        "region": args.region,
        "operation": "add",
        "canvas_size": args.canvas,
    }
    if args.image_size is not None:
        method["image_size"] = args.image_size
    return {
        "name": "bench-adversarial-program",
        "backbone": {"name": args.backbone},
        "dataset": dataset_spec(args),
        "method": method,
        "hyperparameters": hyperparameters(args, epochs=args.epochs),
    }


def fwd_bwd(backbone: Backbone, x: torch.Tensor, y: torch.Tensor, *, bf16: bool) -> None:
    """One forward pass to the source logits and a backward pass to the input."""
    x.requires_grad_(True)
    with autocast(x.device, bf16):
        logits = backbone(x)
    F.cross_entropy(logits.float(), y).backward()


def make_inputs(
    batches: list[torch.Tensor],
    *,
    canvas: int,
    num_labels: int,
    device: torch.device,
    generator: torch.Generator,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Canvas-sized [0, 1] inputs on the device and random source-label targets."""
    made = []
    for batch in batches:
        x = to_model_input(batch.to(device), canvas)
        y = torch.randint(0, num_labels, (len(batch),), generator=generator)
        made.append((x, y.to(device)))
    return made


def raw_forward_backward_s(
    backbone: Backbone,
    images: torch.Tensor,
    *,
    canvas: int,
    batch_size: int,
    device: torch.device,
    bf16: bool,
    chunk_batches: int = 4,
) -> float:
    """Seconds of forward + backward-to-input over `images` (inputs made untimed)."""
    batches = list(images.split(batch_size))
    make = {
        "canvas": canvas,
        "num_labels": backbone.num_labels,
        "device": device,
        "generator": torch.Generator().manual_seed(0),
    }
    for x, y in make_inputs(batches[:1], **make):  # warm-up, untimed
        fwd_bwd(backbone, x, y, bf16=bf16)
    total = 0.0
    for start in range(0, len(batches), chunk_batches):
        made = make_inputs(batches[start : start + chunk_batches], **make)
        began = now(device)
        for x, y in made:
            fwd_bwd(backbone, x, y, bf16=bf16)
        total += now(device) - began
    return total


def main() -> None:
    """Run (a) around (b) and print the table and the ratio."""
    args = parse_args()
    device = pick_device(args.device)
    bf16 = use_bf16(args.precision, device, training_weights=False)
    spec = job_dict(args)
    with fresh_data_dir() as data_dir:
        splits = load_dataset(DatasetSpec(**spec["dataset"]), data_dir=data_dir)
        n_train = len(splits.train)
        print(
            f"device: {describe_device(device)}; bf16 autocast: {bf16}; torch {torch.__version__}"
        )
        method = spec["method"]
        print(
            f"{args.backbone} adversarial program on {args.dataset}: splits {splits.sizes}, "
            f"canvas {args.canvas} px, image {method.get('image_size', args.canvas)} px, "
            f"region {args.region}, mapping {args.mapping}, {args.epochs} epochs, "
            f"batch {args.batch_size}\n"
        )
        backbone = build_backbone(BackboneSpec(name=args.backbone)).freeze()
        backbone.to(device=device, memory_format=torch.channels_last)
        raw = {"canvas": args.canvas, "batch_size": args.batch_size, "device": device, "bf16": bf16}
        raw_runs = [raw_forward_backward_s(backbone, splits.train.images, **raw)]
        result = run_job(spec, data_dir=data_dir)
        raw_runs.append(raw_forward_backward_s(backbone, splits.train.images, **raw))

    raw_rates = [n_train / seconds for seconds in raw_runs]
    raw_rate = max(raw_rates)  # the faster of the two: the stricter reference
    epoch_rates = [h["images_per_s"] for h in result.history]
    engine_rate = sum(epoch_rates[1:]) / len(epoch_rates[1:])
    rows = [
        ["(a) raw backbone fwd+bwd to input", f"{raw_rate:.1f}", "-"],
        [
            "(b) engine adversarial_program training",
            f"{engine_rate:.1f}",
            f"{100 * result.metrics['test_accuracy']:.2f} %",
        ],
    ]
    print(table(["path", "train images/s", "test acc"], rows))
    print(
        f"\nraw runs (before, after the engine): {', '.join(f'{r:.1f}' for r in raw_rates)} "
        f"images/s; engine per epoch: {', '.join(f'{r:.1f}' for r in epoch_rates)} images/s "
        f"(engine bf16: {result.info.get('bf16')})"
    )
    ratio = engine_rate / raw_rate
    print(
        f"\nratio engine ÷ raw (train images/s, same run): {ratio:.2f}"
        f"  (goal ≥ {GOAL_RATIO}: {verdict(ratio, GOAL_RATIO)})"
    )


if __name__ == "__main__":
    main()
