"""Helpers shared by the benchmarks: device flags, clocks, fresh data directories, tables."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """Add --device auto|cpu|cuda."""
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run (auto: cuda when visible, else cpu)",
    )


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """Add --batch-size, --lr, --seed, --precision and --device (shared by every benchmark)."""
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--lr",
        type=float,
        default=1e-3,
        help="learning rate (the thesis's 1e-3); 0: each method's engine default",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    add_device_flag(parser)


def hyperparameters(args: argparse.Namespace, *, epochs: int) -> dict[str, object]:
    """The job spec's hyperparameters from the shared training flags."""
    spec: dict[str, object] = {
        "epochs": epochs,
        "batch_size": args.batch_size,
        "optimizer": "adam",
        "seed": args.seed,
        "precision": args.precision,
        "device": args.device,
    }
    if args.lr:  # 0 leaves it to the engine's default for the method
        spec["lr"] = args.lr
    return spec


def add_data_flags(parser: argparse.ArgumentParser, *, test_per_class: int | None) -> None:
    """Add --backbone, --dataset, --per-class, --test-per-class and --val-fraction."""
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--dataset", default="mnist_5k")
    parser.add_argument(
        "--per-class", type=int, default=None, help="training images per class (default: all)"
    )
    parser.add_argument(
        "--test-per-class",
        type=int,
        default=test_per_class,
        help=f"test images per class (default: {test_per_class or 'all'})",
    )
    parser.add_argument("--val-fraction", type=float, default=0.1)


def dataset_spec(args: argparse.Namespace) -> dict[str, object]:
    """The job spec's dataset from --dataset, --per-class, --test-per-class, --val-fraction."""
    return {
        "name": args.dataset,
        "max_per_class": args.per_class,
        "test_max_per_class": args.test_per_class,
        "val_fraction": args.val_fraction,
        "test_fraction": 0.2,
        "seed": args.seed,
    }


def sync(device: torch.device) -> None:
    """Wait for queued device work so that wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now(device: torch.device) -> float:
    """perf_counter after the device has drained its queue."""
    sync(device)
    return time.perf_counter()


def describe_device(device: torch.device) -> str:
    """A human name for the device: the GPU's name, or the CPU's model and thread count."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model}, {torch.get_num_threads()} threads"


@contextmanager
def fresh_data_dir(keep: str | None = None) -> Iterator[Path]:
    """A new empty REPROGRAM_DATA_DIR (cold caches), or `keep` when given; restored afterwards."""
    previous = os.environ.get("REPROGRAM_DATA_DIR")
    with tempfile.TemporaryDirectory(prefix="reprogram-bench-") as tmp:
        path = Path(keep) if keep else Path(tmp)
        path.mkdir(parents=True, exist_ok=True)
        os.environ["REPROGRAM_DATA_DIR"] = str(path)
        try:
            yield path
        finally:
            if previous is None:
                os.environ.pop("REPROGRAM_DATA_DIR", None)
            else:
                os.environ["REPROGRAM_DATA_DIR"] = previous


def command_line() -> str:
    """The command that is running, as it could be typed again."""
    python = Path(sys.executable)
    try:
        python = python.relative_to(Path.cwd())
    except ValueError:
        python = Path(python.name)
    return " ".join(shlex.quote(str(a)) for a in [python, *sys.argv])


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(value: float, goal: float) -> str:
    """'met' or 'NOT met' for a ratio that should be at least `goal`."""
    return "met" if value >= goal else "NOT met"
