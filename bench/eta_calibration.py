"""ETA for jobs unlike any before: the estimate from the worker's startup calibration ÷ the
actual run time, for several job shapes on one calibrated worker.

On a private Postgres and redis-server (started here, removed afterwards), one API and one
worker with calibration on. Each shape is submitted once, one job at a time, and differs from
the others in method, input size or dataset, so no estimate can come from a similar past job:
each comes from the calibration alone (services.estimates.from_calibration). The actual time is
finished_at − started_at, so it includes the job's cold costs (decoding its dataset, loading
weights) that the calibration does not model.

    .venv/bin/python bench/eta_calibration.py
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import datetime
from typing import Any

from common import command_line, table
from deployment import Api, private_service  # Api: the tests' client, found through deployment

_DIGITS = {"name": "digits", "max_per_class": 40, "test_max_per_class": 20}
_MNIST = {"name": "mnist_5k", "max_per_class": 40, "test_max_per_class": 20}
SHAPES: list[tuple[str, dict[str, Any], dict[str, Any], int]] = [
    ("probe, digits, 32²", _DIGITS, {"kind": "linear_probe", "input_size": 32}, 3),
    ("probe, mnist_5k, 64²", _MNIST, {"kind": "linear_probe", "input_size": 64}, 3),
    ("probe, mnist_5k, 128²", _MNIST, {"kind": "linear_probe", "input_size": 128}, 3),
    ("program, digits, 32²", _DIGITS, {"kind": "adversarial_program", "canvas_size": 32}, 4),
    ("program, mnist_5k, 64²", _MNIST, {"kind": "adversarial_program", "canvas_size": 64}, 3),
    ("finetune, digits, 32²", _DIGITS, {"kind": "finetune", "input_size": 32}, 2),
]


def _actual(job: dict[str, Any]) -> float:
    return (datetime.fromisoformat(job["finished_at"])
            - datetime.fromisoformat(job["started_at"])).total_seconds()  # fmt: skip


def _wait_for_calibration(api: Api) -> dict[str, float]:
    for _ in range(600):
        measured = [w["calibration"] for w in api.get("/v1/workers").json()["data"]
                    if w.get("calibration")]  # fmt: skip
        if measured:
            return dict(measured[0])
        time.sleep(0.5)
    raise SystemExit("the worker never reported a calibration")


def main() -> None:
    print(f"$ {command_line()}\n{os.cpu_count()} CPU cores")
    rows: list[tuple[object, ...]] = []
    ratios: list[float] = []
    with private_service("eta", calibrate="true") as api:
        calibration = _wait_for_calibration(api)
        print("calibration (s per image at 224², Lite0):",
              {k: round(v, 4) for k, v in calibration.items()})  # fmt: skip
        for label, dataset, method, epochs in SHAPES:
            spec = {"name": label, "backbone": {"name": "efficientnet_lite0"},
                    "dataset": dataset, "method": method,
                    "hyperparameters": {"epochs": epochs, "batch_size": 32}}  # fmt: skip
            made = api.post("/v1/jobs", json=spec).json()
            done = api.wait(made["id"], timeout=3600)
            if done["status"] != "succeeded":
                raise SystemExit(f"{label} failed: {done['error']}")
            predicted, actual = made["estimated_seconds"], _actual(done)
            ratio = predicted / actual if predicted else None
            if ratio:
                ratios.append(ratio)
            rows.append((label, epochs, f"{predicted:.1f}" if predicted else "-",
                         f"{actual:.1f}", f"{ratio:.2f}" if ratio else "-"))  # fmt: skip
    print(table(("job", "epochs", "predicted (s)", "actual (s)", "predicted ÷ actual"), rows))
    if ratios:
        print(f"median {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}, "
              f"n={len(ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
