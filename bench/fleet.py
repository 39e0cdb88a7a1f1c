"""Scale-out on one machine: job throughput with 1, 2 and 4 worker processes, and ETA error.

On a private Postgres and redis-server (started here, removed afterwards), one API and N worker
processes, each with its own data directory (no shared disk: an uploaded dataset reaches each
worker through the database). Every worker gets --threads torch threads (1), whatever N, so N
workers on N free cores should do N times one's work. First every worker
runs one job untimed (its caches fill); then a queue of --jobs jobs is timed from submission to
the last one's end. Printed side by side:

* jobs/min with N workers ÷ (N × jobs/min with one): the scaling efficiency (goal ≥ 0.9 where
  the cores allow: on a 2-core machine 4 workers can only share 2 cores);
* predicted ÷ actual run time (the estimate made at submission, against finished_at −
  started_at): for the timed jobs, predicted from the warm-up jobs (cold caches), and for a
  second, smaller batch predicted from the timed ones (warm, as in steady operation).

The jobs train adversarial programs (every step runs the backbone: nothing is cached between
jobs), each with its own seed.

    .venv/bin/python bench/fleet.py [--workers 1 2 4] [--jobs 8] [--epochs 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the fault tests' private servers

from common import command_line, fresh_data_dir, table  # noqa: E402
from PIL import Image  # noqa: E402
from support.client import Api, small_job  # noqa: E402
from support.faults import PrivatePostgres, PrivateRedis  # noqa: E402
from support.services import Service, service_env  # noqa: E402


def _upload(api: Api) -> str:
    """A small uploaded dataset: two classes of real-looking shapes (it must travel to workers)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, color in (("warm", (220, 90, 20)), ("cold", (20, 90, 220))):
            for i in range(100):
                image = io.BytesIO()
                Image.new("RGB", (24 + i % 8, 24), color).save(image, format="PNG")
                archive.writestr(f"{label}/{i}.png", image.getvalue())
    made = api.post("/v1/datasets", files={"file": ("shapes.zip", buffer.getvalue())})
    made.raise_for_status()
    return str(made.json()["id"])


def _ratios(done: list[dict[str, Any]]) -> list[float]:
    """Predicted ÷ actual run time of the jobs that had an estimate."""
    ratios = []
    for job in done:
        actual = (datetime.fromisoformat(job["finished_at"])
                  - datetime.fromisoformat(job["started_at"])).total_seconds()  # fmt: skip
        if job.get("estimated_seconds"):
            ratios.append(job["estimated_seconds"] / actual)
    return ratios


def _summary(ratios: list[float]) -> str:
    if not ratios:
        return "no estimates"
    return f"median {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}, n={len(ratios)})"


def _run(api: Api, specs: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """Submit the jobs at once and wait for all; (seconds, the finished jobs)."""
    started = time.monotonic()
    ids = [api.post("/v1/jobs", json=spec).json()["id"] for spec in specs]
    done = [api.wait(job_id, timeout=3600) for job_id in ids]
    failed = [job for job in done if job["status"] != "succeeded"]
    if failed:
        raise SystemExit(f"a job failed: {failed[0]['error']}")
    return time.monotonic() - started, done


def _fleet(env: dict[str, str], data: Path, workers: int, threads: int) -> list[Service]:
    share = str(threads)
    fleet = []
    for n in range(workers):
        folder = data / f"w{n}"
        folder.mkdir()
        side = Service(env=env | {"REPROGRAM_DATA_DIR": str(folder), "OMP_NUM_THREADS": share},
                       data_dir=folder)  # fmt: skip
        side.start_worker()
        fleet.append(side)
    return fleet


def _measure(args: argparse.Namespace, api: Api, workers: int) -> tuple[float, list, list]:
    """Warm every worker up, then time a batch; (seconds, the batch, a later small batch)."""
    dataset = {"upload_id": _upload(api), "image_size": 32}
    program = {"kind": "adversarial_program", "canvas_size": 32}

    def specs(count: int, first_seed: int) -> list[dict[str, Any]]:
        hyper = {"epochs": args.epochs, "batch_size": 32}
        return [small_job(dataset=dataset, method=program,
                          hyperparameters=hyper | {"seed": first_seed + i})
                for i in range(count)]  # fmt: skip

    _run(api, specs(workers, 0))  # warm-up: one job per worker
    seconds, done = _run(api, specs(args.jobs, 100))
    _, steady = _run(api, specs(2 * workers, 200))
    return seconds, done, steady


def _deployment(
    args: argparse.Namespace, postgres: PrivatePostgres, redis: PrivateRedis, workers: int
) -> tuple[float, list, list]:
    """A fresh database, an API and `workers` workers, each with its own data directory."""
    with fresh_data_dir() as data:
        database = postgres.create_database(f"fleet{workers}")
        env = service_env(data_dir=data / "api", database_url=database, broker_url=redis.url,
                          queue=f"fleet{workers}")  # fmt: skip
        (data / "api").mkdir()
        api_side = Service(env=env, data_dir=data / "api")
        fleet = _fleet(env, data, workers, args.threads)
        try:
            api_side.start_api()
            key = api_side.create_key("bench")
            with Api(base_url=api_side.api_url, timeout=60,
                     headers={"Authorization": f"Bearer {key}"}) as api:  # fmt: skip
                return _measure(args, api, workers)
        finally:
            api_side.stop()
            for side in fleet:
                side.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (the same for every N, so N workers ask for N shares)",
    )
    args = parser.parse_args()
    print(f"$ {command_line()}\n{os.cpu_count()} CPU cores")
    postgres, redis = PrivatePostgres(), PrivateRedis()
    rows: list[tuple[object, ...]] = []
    single: float | None = None
    try:
        for workers in args.workers:
            seconds, done, steady = _deployment(args, postgres, redis, workers)
            rate = args.jobs / seconds * 60
            single = single or rate
            rows.append((workers, f"{seconds:.1f}", f"{rate:.1f}",
                         f"{rate / (workers * single):.2f}", _summary(_ratios(done)),
                         _summary(_ratios(steady))))  # fmt: skip
    finally:
        redis.close()
        postgres.close()
    header = ("workers", f"{args.jobs} jobs (s)", "jobs/min", "÷ (N × one)",
              "ETA ÷ actual (from cold)", "ETA ÷ actual (from warm)")  # fmt: skip
    print(table(header, rows))


if __name__ == "__main__":
    main()
