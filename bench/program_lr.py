"""Learning rate of adversarial programs: the evidence behind the engine's default of 0.01.

EfficientNet-Lite0 (ImageNet) → mnist_5k, 112-px canvas, 3 epochs of Adam, for Elsayed's setting
(border, first-10 mapping, 28-px image) and the engine's default (full canvas, learned mapping).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, fresh_data_dir, table

SETTINGS = {
    "border, first_k": {"kind": "adversarial_program", "region": "border",
                        "label_mapping": "first_k", "image_size": 28},
    "full, learned": {"kind": "adversarial_program", "region": "full",
                      "label_mapping": "learned"},
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.001, 0.01, 0.05])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--test-per-class", type=int, default=50)
    parser.add_argument("--canvas", type=int, default=112)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    from reprogramming.job import run_job

    print(f"$ {command_line()}")
    rows = []
    with fresh_data_dir() as data_dir:
        for lr in args.lrs:
            for name, method in SETTINGS.items():
                start = time.perf_counter()
                result = run_job(
                    {
                        "backbone": {"name": "efficientnet_lite0"},
                        "dataset": {"name": "mnist_5k", "max_per_class": args.per_class,
                                    "test_max_per_class": args.test_per_class},
                        "method": {**method, "canvas_size": args.canvas},
                        "hyperparameters": {"epochs": args.epochs, "lr": lr},
                    },
                    data_dir=data_dir,
                )  # fmt: skip
                rows.append([f"{lr:g}", name, f"{result.metrics['test_accuracy']:.1%}",
                             f"{time.perf_counter() - start:.0f}"])  # fmt: skip
                print(rows[-1], flush=True)
    print(table(["lr", "program", "test accuracy", "seconds"], rows))


if __name__ == "__main__":
    main()
