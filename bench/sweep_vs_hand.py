"""A sweep's best trial against the best hand-picked row of the accuracy table.

The service runs the sweep, as a user would get it: on a private Postgres and redis-server
(started here, removed afterwards), one API and one worker; `POST /v1/sweeps` with the accuracy
table's own data (same dataset, per-class caps, seeded splits and canvas) and a space over the
methods a user would hand-pick from (the linear probe at 224 px; the full-canvas program with a
learned or BLM+ mapping) and the learning rate. TPE samples, the median pruner stops trials
that fall behind, the objective is validation accuracy, and the promoted model's test accuracy
is reported once. The result goes to bench/results/sweep/<backbone>__<target>.json (committed),
where bench/accuracy_table.py reads it for docs/results.md's comparison.

    .venv/bin/python bench/sweep_vs_hand.py                        # lite0 → mnist_5k, 8 trials
    .venv/bin/python bench/sweep_vs_hand.py --trials 4 --epochs 5  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from common import command_line, describe_device, table
from deployment import private_service

from services.sweeps import AUTO_SPACE

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results" / "sweep"
BACKBONES = {"lite0": {"name": "efficientnet_lite0"},
             "mnv2": {"name": "mobilenet_v2", "weights": "IMAGENET1K_V1"}}  # fmt: skip


def parse_args() -> argparse.Namespace:
    """Flags; the defaults match bench/accuracy_table.py's CPU-sized rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="lite0")
    parser.add_argument("--target", default="mnist_5k")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--test-per-class", type=int, default=50)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--canvas", type=int, default=64)
    parser.add_argument("--lp-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=30, help="every trial's epochs")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def sweep_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep: the accuracy table's data, a space over methods and lr, the median pruner."""
    program = {"kind": "adversarial_program", "region": "full", "operation": "add",
               "canvas_size": args.canvas}  # fmt: skip
    return {
        "name": f"{args.backbone} → {args.target} (bench)",
        "base": {
            "backbone": BACKBONES[args.backbone],
            "dataset": {
                "name": args.target,
                "max_per_class": args.per_class,
                "test_max_per_class": args.test_per_class,
                "val_fraction": args.val_fraction,
                "test_fraction": 0.2,
                "seed": args.seed,
            },
            "method": {"kind": "linear_probe", "input_size": args.lp_size},
            "hyperparameters": {"epochs": args.epochs, "batch_size": 128, "seed": args.seed},
        },
        "space": {
            "method": {
                "type": "categorical",
                "choices": [
                    {"kind": "linear_probe", "input_size": args.lp_size},
                    program | {"label_mapping": "learned"},
                    program | {"label_mapping": "blm_plus"},
                ],
            },
            "hyperparameters.lr": AUTO_SPACE["hyperparameters.lr"],  # the lr 'auto' searches
        },
        # As 'auto' does: the probe at its default lr first.
        "initial": [
            {
                "method": {"kind": "linear_probe", "input_size": args.lp_size},
                "hyperparameters.lr": 1e-3,
            }
        ],
        "pruner": "median",
        "budget": {"trials": args.trials, "parallelism": 1},
        "seed": args.seed,
    }


def method_name(method: dict[str, Any]) -> str:
    """A trial's method in a few words."""
    if method.get("kind") == "linear_probe":
        return f"probe {method.get('input_size')} px"
    return f"program ({method.get('label_mapping')})"


def main() -> None:
    args = parse_args()
    print(f"$ {command_line()}\n{os.cpu_count()} CPU cores")
    spec = sweep_spec(args)
    started = time.monotonic()
    with private_service("sweep") as api:
        made = api.post("/v1/sweeps", json=spec)
        if made.status_code != 201:
            raise SystemExit(f"sweep refused: {made.status_code} {made.text}")
        sweep_id, seen = made.json()["id"], 0
        while True:
            sweep = api.get(f"/v1/sweeps/{sweep_id}").json()
            ended = [t for t in sweep["trials"] if t["state"] != "running"]
            for trial in ended[seen:]:
                print(f"trial {trial['number']}: {trial['state']} "
                      f"{trial['value']} {trial['params']}", flush=True)  # fmt: skip
            seen = max(seen, len(ended))
            if sweep["status"] not in ("running", "paused"):
                break
            time.sleep(5)
        jobs = {t["job_id"]: api.get(f"/v1/jobs/{t['job_id']}").json()
                for t in sweep["trials"] if t["job_id"]}  # fmt: skip
    wall = time.monotonic() - started
    if sweep["status"] != "succeeded":
        raise SystemExit(f"the sweep ended {sweep['status']}: {sweep['error']}")

    rows = []
    for trial in sweep["trials"]:
        job = jobs.get(trial["job_id"], {})
        rows.append({"number": trial["number"], "state": trial["state"],
                     "method": method_name(trial["params"].get("method") or {}),
                     "lr": trial["params"].get("hyperparameters.lr"),
                     "val_accuracy": trial["value"], "epochs": job.get("epoch"),
                     "job_status": trial["job_status"],
                     "seconds": _seconds(job)})  # fmt: skip
    print(table(("trial", "state", "method", "lr", "val acc", "epochs", "s"),
                [(r["number"], r["state"], r["method"], f"{r['lr']:.2g}" if r["lr"] else "-",
                  f"{r['val_accuracy']:.3f}" if r["val_accuracy"] is not None else "-",
                  r["epochs"],
                  f"{r['seconds']:.0f}" if r["seconds"] else "-") for r in rows]))  # fmt: skip
    print(
        f"best trial: val {sweep['best_value']:.3f}, test {sweep['test_accuracy']:.3f}; "
        f"{wall / 60:.1f} min in all"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "backbone": args.backbone, "target": args.target, "spec": spec, "trials": rows,
        "best_value": sweep["best_value"], "test_accuracy": sweep["test_accuracy"],
        "best_trial": next((r for r in rows if r["number"] == _number(sweep)), None),
        "wall_s": round(wall, 1), "command": command_line(),
        "device": describe_device(torch.device("cpu")),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }  # fmt: skip
    path = args.out / f"{args.backbone}__{args.target}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


def _number(sweep: dict[str, Any]) -> int | None:
    return next((t["number"] for t in sweep["trials"] if t["job_id"] == sweep["best_job_id"]), None)


def _seconds(job: dict[str, Any]) -> float | None:
    if not job.get("started_at") or not job.get("finished_at"):
        return None
    start = datetime.fromisoformat(job["started_at"])
    return (datetime.fromisoformat(job["finished_at"]) - start).total_seconds()


if __name__ == "__main__":
    main()
