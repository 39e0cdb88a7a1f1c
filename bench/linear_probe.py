"""Linear probe speed: the engine end to end vs the raw backbone, and vs a thesis-style loop.

All three run in this one process, side by side, on the same images, batch size and precision:

(a) raw backbone inference: penultimate features of every image (train + val + test), the fastest
    path the engine would use (eval, inference_mode, channels_last, bf16 autocast iff the engine
    picks it), timing only the backbone's forward passes;
(b) the engine end to end (`run_job`) with a cold feature cache: all images ÷ its wall time;
(c) a naive loop as the thesis ran it: the same frozen backbone and a new nn.Linear head trained
    with Adam, but the backbone runs on every batch of every epoch, plus validation each epoch
    and test at the end;
(d) the engine again with the feature cache warm.

Run from the repository root: `.venv/bin/python bench/linear_probe.py --size 112 --per-class 50`.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
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
from torch import nn

from reprogramming.backbones import Backbone
from reprogramming.data import Splits, load_dataset
from reprogramming.data.base import ImageSet
from reprogramming.factory import build_backbone
from reprogramming.images import to_model_input
from reprogramming.job import run_job
from reprogramming.runtime import autocast, pick_device, use_bf16
from reprogramming.spec import BackboneSpec, DatasetSpec

GOAL_RAW_RATIO = 0.8
GOAL_NAIVE_RATIO = 8.0


def parse_args() -> argparse.Namespace:
    """Command-line flags; the defaults are the full-size benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_flags(parser, test_per_class=None)
    parser.add_argument("--size", type=int, default=224, help="input side in pixels")
    parser.add_argument("--epochs", type=int, default=10)
    add_training_flags(parser)
    parser.add_argument(
        "--repeats", type=int, default=2, help="cold engine runs (the best is kept)"
    )
    parser.add_argument("--skip-naive", action="store_true", help="leave out (c), the slowest part")
    return parser.parse_args()


def job_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The engine's job spec for this benchmark."""
    return {
        "name": "bench-linear-probe",
        "backbone": {"name": args.backbone},
        "dataset": dataset_spec(args),
        "method": {"kind": "linear_probe", "input_size": args.size},
        "hyperparameters": hyperparameters(args, epochs=args.epochs),
    }


def load_backbone(name: str, device: torch.device) -> Backbone:
    """The frozen backbone on the device in channels_last, as the engine holds it."""
    backbone = build_backbone(BackboneSpec(name=name)).freeze()
    return backbone.to(device=device, memory_format=torch.channels_last)


def raw_inference_s(
    backbone: Backbone,
    parts: list[ImageSet],
    *,
    size: int,
    batch_size: int,
    device: torch.device,
    bf16: bool,
    chunk_batches: int = 8,
) -> float:
    """Seconds the backbone's forward passes alone take over every image (inputs made untimed)."""
    batches = [b for part in parts for b in part.images.split(batch_size)]
    with torch.inference_mode():
        warm = to_model_input(batches[0].to(device), size)
        with autocast(device, bf16):
            backbone.features(warm)
        total = 0.0
        for start in range(0, len(batches), chunk_batches):
            inputs = [
                to_model_input(b.to(device), size) for b in batches[start : start + chunk_batches]
            ]
            began = now(device)
            with autocast(device, bf16):
                for x in inputs:
                    backbone.features(x)
            total += now(device) - began
    return total


def accuracy(
    backbone: Backbone,
    head: nn.Module,
    part: ImageSet,
    *,
    size: int,
    batch_size: int,
    device: torch.device,
    bf16: bool,
) -> float:
    """Accuracy of backbone + head on a split, running the backbone on every image."""
    if len(part) == 0:
        return float("nan")
    head.eval()
    correct = 0
    with torch.no_grad():
        for index in torch.arange(len(part)).split(batch_size):
            x = to_model_input(part.images[index].to(device), size)
            with autocast(device, bf16):
                features = backbone.features(x)
            logits = head(features.float())
            correct += int((logits.argmax(1).cpu() == part.labels[index]).sum())
    return correct / len(part)


def naive_loop(
    splits: Splits, args: argparse.Namespace, device: torch.device, bf16: bool
) -> dict[str, float]:
    """The thesis-style loop: the frozen backbone runs on every batch of every epoch."""
    started = now(device)
    torch.manual_seed(args.seed)
    backbone = load_backbone(args.backbone, device)
    head = nn.Linear(backbone.num_features, len(splits.classes)).to(device)
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
    train = splits.train
    common = {"size": args.size, "batch_size": args.batch_size, "device": device, "bf16": bf16}
    val_accuracy = float("nan")
    for epoch in range(args.epochs):
        head.train()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch))
        for index in order.split(args.batch_size):
            x = to_model_input(train.images[index].to(device), args.size)
            y = train.labels[index].to(device)
            with autocast(device, bf16):
                features = backbone.features(x)  # frozen weights, so no graph is built
            loss = F.cross_entropy(head(features.float()), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        val_accuracy = accuracy(backbone, head, splits.val, **common)
    test_accuracy = accuracy(backbone, head, splits.test, **common)
    return {
        "seconds": now(device) - started,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
    }


def engine_run(args: argparse.Namespace, device: torch.device, *, data_dir: Path) -> dict[str, Any]:
    """One run_job call, timed from the outside."""
    started = now(device)
    result = run_job(job_dict(args), data_dir=data_dir)
    seconds = now(device) - started
    return {
        "seconds": seconds,
        "test_accuracy": result.metrics["test_accuracy"],
        "cache": result.info.get("feature_cache"),
        "feature_s": result.info.get("feature_s", float("nan")),
        "bf16": result.info.get("bf16"),
    }


def pct(value: float) -> str:
    """An accuracy as a percentage, or '-' when there is none."""
    return "-" if value != value else f"{100 * value:.2f} %"


def main() -> None:
    """Run (a)-(d) and print the table and the ratios."""
    args = parse_args()
    device = pick_device(args.device)
    bf16 = use_bf16(args.precision, device, training_weights=False)
    with fresh_data_dir() as data_dir:
        # Decodes once; the features stay cold.
        splits = load_dataset(DatasetSpec(**dataset_spec(args)), data_dir=data_dir)
        sizes = splits.sizes
        n_all = sum(sizes.values())
        print(
            f"device: {describe_device(device)}; bf16 autocast: {bf16}; torch {torch.__version__}"
        )
        print(
            f"{args.backbone} linear probe on {args.dataset}: splits {sizes}, {args.size} px, "
            f"{args.epochs} epochs, batch {args.batch_size}\n"
        )
        backbone = load_backbone(args.backbone, device)
        parts = [splits.train, splits.val, splits.test]
        raw = {"size": args.size, "batch_size": args.batch_size, "device": device, "bf16": bf16}
        # Raw and engine runs alternate; the best of each is kept, so load from elsewhere on the
        # machine hurts neither side more than the other.
        raw_runs = [raw_inference_s(backbone, parts, **raw)]
        cold_runs = []
        for _ in range(args.repeats):
            shutil.rmtree(data_dir / "features", ignore_errors=True)
            cold_runs.append(engine_run(args, device, data_dir=data_dir))
            raw_runs.append(raw_inference_s(backbone, parts, **raw))
        raw_s = min(raw_runs)
        cold = min(cold_runs, key=lambda run: run["seconds"])
        del backbone
        warm = engine_run(args, device, data_dir=data_dir)
        naive = None if args.skip_naive else naive_loop(splits, args, device, bf16)

    rows: list[list[object]] = [
        ["(a) raw backbone inference", n_all, f"{raw_s:.1f}", f"{n_all / raw_s:.1f}", "-"],
        [
            f"(b) engine, cold cache ({cold['cache']})",
            n_all,
            f"{cold['seconds']:.1f}",
            f"{n_all / cold['seconds']:.1f}",
            pct(cold["test_accuracy"]),
        ],
    ]
    naive_images = args.epochs * (sizes["train"] + sizes["val"]) + sizes["test"]
    if naive is not None:
        rows.append(
            [
                "(c) naive loop, backbone every epoch",
                naive_images,
                f"{naive['seconds']:.1f}",
                f"{naive_images / naive['seconds']:.1f}",
                pct(naive["test_accuracy"]),
            ]
        )
    rows.append(
        [
            f"(d) engine, warm cache ({warm['cache']})",
            n_all,
            f"{warm['seconds']:.1f}",
            f"{n_all / warm['seconds']:.1f}",
            pct(warm["test_accuracy"]),
        ]
    )
    print(table(["path", "backbone images", "seconds", "images/s", "test acc"], rows))
    raw_rates = ", ".join(f"{n_all / seconds:.1f}" for seconds in raw_runs)
    cold_rates = ", ".join(f"{n_all / run['seconds']:.1f}" for run in cold_runs)
    print(
        f"\nraw runs: {raw_rates} images/s; cold engine runs: {cold_rates} images/s "
        "(best of each kept);\nengine feature extraction alone: "
        f"{cold['feature_s']:.1f} s ({n_all / cold['feature_s']:.1f} images/s)"
    )
    raw_ratio = raw_s / cold["seconds"]
    print("\nratios (same run, same images, batch and precision):")
    print(
        f"  engine end to end ÷ raw backbone (images/s): {raw_ratio:.2f}"
        f"  (goal ≥ {GOAL_RAW_RATIO}: {verdict(raw_ratio, GOAL_RAW_RATIO)})"
    )
    if naive is not None:
        ideal = naive_images / n_all
        naive_ratio = naive["seconds"] / cold["seconds"]
        print(
            f"  naive time ÷ engine time (cold cache): {naive_ratio:.1f}×"
            f"  (goal ≥ {GOAL_NAIVE_RATIO:g}×: {verdict(naive_ratio, GOAL_NAIVE_RATIO)};"
            f" counting backbone passes alone the most it can be is {ideal:.1f}×)"
        )
        print(f"  naive time ÷ engine time (warm cache): {naive['seconds'] / warm['seconds']:.1f}×")
    print(f"  warm ÷ cold engine time: {warm['seconds'] / cold['seconds']:.2f}")


if __name__ == "__main__":
    main()
