"""Serving at scale: N deployed models on one backbone, each ratio against all traffic to one model.

One run, on a real deployment (Postgres, Redis, a Celery worker, API processes):

1. `--real` models are trained through the service: linear probes on EfficientNet-Lite0 (the
   feature cache makes each job cheap; three label sets, so heads differ in width) and a few
   adversarial programs on the same canvas. To reach 1,000 and 10,000 deployed models, their
   job and model rows are copied under new ids (each copy is its own model to the API: its own
   id, its own fetch from Postgres, its own load); training 10,000 jobs would take hours here.
2. For N = 1, 10, 100, 1,000: one-image requests from `--clients` concurrent clients, spread
   round-robin and Zipf (s = 1.1) over N models, with the same number of requests each way;
   images/s and p50/p99 latency ÷ all traffic to one model, and the API process's resident
   memory ÷ its memory with one model. Per-model batching (REPROGRAM_PREDICT_BATCHING=model,
   the old behaviour) runs in the same run as the baseline.
3. 10,000 models, Zipf traffic, a cache budget that holds only `--budget-models` of them:
   images/s ÷ one model, and cold loads (a first request to a model never loaded: fetched from
   Postgres, built, answered) as latency above a warm request, p50 and p99.
4. One API process vs two (`reprogram api --workers 2`), N = 100 round-robin.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import command_line, fresh_data_dir, table
from serving import photo_png, rss_mb
from support.services import (
    Service,
    fresh_database,
    postgres_server,
    redis_server,
    service_env,
)

DIGITS = {"name": "digits", "max_per_class": 30, "test_max_per_class": 10, "seed": 0}
LABEL_SETS = [None, [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def job_specs(count: int, programs: int, size: int) -> list[dict[str, Any]]:
    """`count` jobs: probes over three label sets and seeds, then `programs` programs."""
    specs = []
    for i in range(count - programs):
        classes = LABEL_SETS[i % len(LABEL_SETS)]
        dataset = DIGITS | ({"classes": classes} if classes else {})
        specs.append({
            "name": f"probe-{i}", "backbone": {"name": "efficientnet_lite0"}, "dataset": dataset,
            "method": {"kind": "linear_probe", "input_size": size},
            "hyperparameters": {"epochs": 3, "batch_size": 64, "seed": i},
        })  # fmt: skip
    for i in range(programs):
        specs.append({
            "name": f"program-{i}", "backbone": {"name": "efficientnet_lite0"},
            "dataset": DIGITS | {"max_per_class": 10},
            "method": {"kind": "adversarial_program", "canvas_size": size,
                       "image_size": size * 3 // 4, "label_mapping": "frequency"},
            "hyperparameters": {"epochs": 1, "batch_size": 32, "seed": i},
        })  # fmt: skip
    return specs


def train(url: str, headers: dict[str, str], specs: list[dict[str, Any]]) -> list[str]:
    """Submit every job, wait for all; their model ids."""
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        ids = [client.post("/v1/jobs", json=spec).json()["id"] for spec in specs]
        models = []
        for job_id in ids:
            while True:
                job = client.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.5)
            if job["status"] != "succeeded":
                raise SystemExit(f"job {job_id} {job['status']}: {job.get('error')}")
            models.append(job["model_id"])
    return models


def copy_models(database_url: str, model_ids: list[str], total: int) -> list[str]:
    """The real models, then copies of their job and model rows under new ids, up to `total`."""
    from sqlalchemy import inspect as orm_inspect
    from sqlalchemy import select

    from config.settings import Settings
    from db.models import Job, Model, new_id
    from db.session import session_scope

    url = Settings(database_url=database_url).sqlalchemy_url
    ids = list(model_ids)
    with session_scope(url) as session:
        originals = session.scalars(select(Model).where(Model.id.in_(model_ids))).all()
        by_id = {m.id: m for m in originals}
        jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(
            [m.job_id for m in originals])))}  # fmt: skip
        job_columns = [c.key for c in orm_inspect(Job).column_attrs
                       if c.key not in ("id", "model_id", "idempotency_key")]  # fmt: skip
        model_columns = [c.key for c in orm_inspect(Model).column_attrs if c.key not in
                         ("id", "job_id")]  # fmt: skip
        while len(ids) < total:
            source = by_id[model_ids[len(ids) % len(model_ids)]]
            job = Job(id=new_id("job"), **{c: getattr(jobs[source.job_id], c) for c in job_columns})
            model = Model(id=new_id("mdl"), job_id=job.id,
                          **{c: getattr(source, c) for c in model_columns})  # fmt: skip
            job.model_id = model.id
            session.add_all([job, model])
            ids.append(model.id)
    return ids


def sequence(model_ids: list[str], total: int, how: str, seed: int = 0) -> list[str]:
    """Which model each request goes to: round-robin, or Zipf-distributed over the models."""
    if how == "round-robin":
        return [model_ids[i % len(model_ids)] for i in range(total)]
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, len(model_ids) + 1)
    weights = ranks**-1.1
    return [model_ids[i] for i in rng.choice(len(model_ids), size=total, p=weights / weights.sum())]


async def load(
    url: str, headers: dict[str, str], targets: list[str], image: bytes, *, clients: int
) -> tuple[float, list[float]]:
    """images/s and each request's latency, `clients` requests in flight over `targets`."""
    latencies: list[float] = []
    queue = list(reversed(targets))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as c:

        async def client() -> None:
            while queue:
                model_id = queue.pop()
                start = time.perf_counter()
                r = await c.post(f"/v1/models/{model_id}/predict",
                                 files=[("files", ("cat.png", image, "image/png"))])  # fmt: skip
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text}")
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return len(targets) / elapsed, latencies


def measure(url: str, headers: dict[str, str], targets: list[str], image: bytes, clients: int
            ) -> dict[str, float]:  # fmt: skip
    ips, latencies = asyncio.run(load(url, headers, targets, image, clients=clients))
    return {"ips": ips, "p50": float(np.percentile(latencies, 50)) * 1000,
            "p99": float(np.percentile(latencies, 99)) * 1000}  # fmt: skip


def cache_metrics(url: str) -> dict[str, float]:
    """The model cache's gauges and counters, and the number of cold loads, from /metrics."""
    wanted = ("reprogram_model_cache", "reprogram_model_load_seconds_count")
    return {line.split()[0]: float(line.split()[1])
            for line in httpx.get(url + "/metrics").text.splitlines()
            if line.startswith(wanted) and "{" not in line}  # fmt: skip


def warm(url: str, headers: dict[str, str], model_ids: list[str], image: bytes) -> None:
    """Load every model (one request each, a few at a time)."""
    asyncio.run(load(url, headers, model_ids, image, clients=4))


def start_api(env: dict[str, str], data: Path, name: str, *args: str, **settings: Any) -> Service:
    api = Service(
        env=env | {f"REPROGRAM_{k.upper()}": str(v) for k, v in settings.items()},
        data_dir=data / name,
    )
    api.data_dir.mkdir(parents=True, exist_ok=True)
    api.start_api(*args)
    return api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96, help="input side (224 on a GPU)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=640, help="requests per measurement")
    parser.add_argument("--real", type=int, default=60, help="models trained through the service")
    parser.add_argument("--programs", type=int, default=4, help="of which adversarial programs")
    parser.add_argument("--counts", default="1,10,100,1000")
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--budget-models", type=int, default=200,
                        help="models the cache budget holds in part 3")  # fmt: skip
    parser.add_argument("--cold", type=int, default=100, help="cold loads timed in part 3")
    parser.add_argument("--process-runs", type=int, default=3, help="1 vs 2 processes, runs")
    args = parser.parse_args()
    counts = [int(n) for n in args.counts.split(",") if n]
    print(f"$ {command_line()}")
    image = photo_png(128)
    rows: list[list[str]] = []
    notes: list[str] = []
    with postgres_server() as pg, fresh_database(pg) as database, redis_server() as redis, \
            fresh_data_dir() as data:  # fmt: skip
        env = service_env(data_dir=data, database_url=database, broker_url=redis, queue="bench")
        deployment = Service(env=env, data_dir=data)
        try:
            deployment.start_worker()
            deployment.start_api()
            headers = {"Authorization": f"Bearer {deployment.create_key('bench')}"}
            started = time.perf_counter()
            real = train(deployment.api_url, headers, job_specs(args.real, args.programs,
                                                                args.size))  # fmt: skip
            notes.append(f"{len(real)} models trained through the service in "
                         f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        finally:
            deployment.stop()
        ids = copy_models(env["REPROGRAM_DATABASE_URL"], real, max([*counts, args.large]))

        for mode in ("model", "backbone") if counts else ():
            api = start_api(env, data, f"api-{mode}", predict_batching=mode)
            try:
                assert api.api is not None
                warm(api.api_url, headers, ids[:1], image)
                one_rss = rss_mb(api.api.pid)
                one = measure(api.api_url, headers, [ids[0]] * args.requests, image, args.clients)
                rows.append([mode, "1 (all traffic)", "-", f"{one['ips']:.1f}", "1.00",
                             f"{one['p50']:.0f}", f"{one['p99']:.0f}", "1.00", "1.00"])  # fmt: skip
                for n in counts:
                    warm(api.api_url, headers, ids[:n], image)
                    rss = rss_mb(api.api.pid)
                    for how in ("round-robin", "zipf"):
                        got = measure(api.api_url, headers, sequence(ids[:n], args.requests, how),
                                      image, args.clients)  # fmt: skip
                        rows.append([mode, str(n), how, f"{got['ips']:.1f}",
                                     f"{got['ips'] / one['ips']:.2f}", f"{got['p50']:.0f}",
                                     f"{got['p99']:.0f}", f"{got['p99'] / one['p99']:.2f}",
                                     f"{rss / one_rss:.2f}"])  # fmt: skip
                    print(f"  {mode} N={n} done", flush=True)
            finally:
                api.stop()

        # Part 3: many more models than the budget holds.
        probe = start_api(env, data, "api-probe")
        try:
            warm(probe.api_url, headers, ids[:2], image)
            text = httpx.get(probe.api_url + "/metrics").text
            resident = next(float(x.split()[1]) for x in text.splitlines()
                            if x.startswith('reprogram_model_cache_bytes{kind="resident"}'))  # fmt: skip
        finally:
            probe.stop()
        head = 1280 * 10 * 4 + 10 * 4
        budget = int(resident + args.budget_models * head)
        large = ids[: args.large]
        api = start_api(env, data, "api-large", model_cache_bytes=budget)
        try:
            warm(api.api_url, headers, large[:1], image)
            one = measure(api.api_url, headers, [large[0]] * args.requests, image, args.clients)
            # Two passes of Zipf traffic: the first fills the cache, the second is measured.
            measure(api.api_url, headers, sequence(large, args.requests * 2, "zipf", 1), image,
                    args.clients)  # fmt: skip
            before = cache_metrics(api.api_url)
            zipf = measure(api.api_url, headers, sequence(large, args.requests * 2, "zipf", 2),
                           image, args.clients)  # fmt: skip
            during = {k: v - before.get(k, 0.0) for k, v in cache_metrics(api.api_url).items()}
            warm_latency, cold_latency = [], []
            with httpx.Client(base_url=api.api_url, headers=headers, timeout=120) as client:
                files = [("files", ("cat.png", image, "image/png"))]
                for model_id in large[-args.cold :]:  # never requested before: not even on disk
                    t = time.perf_counter()
                    client.post(f"/v1/models/{model_id}/predict", files=files).raise_for_status()
                    cold_latency.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    client.post(f"/v1/models/{model_id}/predict", files=files).raise_for_status()
                    warm_latency.append(time.perf_counter() - t)
        finally:
            api.stop()
        warm_ms = statistics.median(warm_latency) * 1000
        cold_extra = [c * 1000 - warm_ms for c in cold_latency]

        # Part 4: one API process against two, alternating, three times each (the split of
        # keep-alive connections between uvicorn's processes varies from run to run).
        processes: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.process_runs):
            for workers in (1, 2):
                api = start_api(env, data, f"api-{workers}p", "--workers", str(workers))
                try:
                    targets = sequence(ids[:100], args.requests, "round-robin")
                    warm(api.api_url, headers, ids[:100] * workers * 2, image)
                    got = measure(api.api_url, headers, targets, image, args.clients)
                    processes[workers].append(got["ips"])
                finally:
                    api.stop()

    print(f"\n{args.real - args.programs} linear probes and {args.programs} adversarial programs "
          f"trained through the service on efficientnet_lite0 at {args.size} px (copied to N); "
          f"{args.clients} concurrent clients, {args.requests} one-image requests per row\n")  # fmt: skip
    print(table(["batching", "models", "traffic", "img/s", "÷ one", "p50 ms", "p99 ms",
                 "p99 ÷ one", "RSS ÷ one"], rows))  # fmt: skip
    cross = {(r[1], r[2]): r for r in rows if r[0] == "backbone"}
    at_1000 = cross.get(("1000", "round-robin"))
    if at_1000:
        print(
            f"\ngoal at N = 1,000 (round-robin, cross-model batching): throughput >= 0.9 "
            f"(got {at_1000[4]}), p99 <= 1.3 (got {at_1000[7]}), memory <= 1.5 (got {at_1000[8]})"
        )
    print(f"\n{args.large:,} models, Zipf, a budget of {budget / 2**20:.1f} MiB (about "
          f"{args.budget_models} heads beside the backbone): {zipf['ips']:.1f} img/s = "
          f"{zipf['ips'] / one['ips']:.2f} of one model ({one['ips']:.1f}; goal >= 0.7); p50/p99 "
          f"{zipf['p50']:.0f}/{zipf['p99']:.0f} ms; during those {args.requests * 2} requests "
          f"{during['reprogram_model_load_seconds_count']:.0f} cold loads and "
          f"{during['reprogram_model_cache_evictions_total']:.0f} evictions, "
          f"{before['reprogram_model_cache_models']:.0f} models resident")  # fmt: skip
    print(f"cold load from Postgres (first request to a never-loaded model, above a warm request "
          f"of {warm_ms:.1f} ms): p50 {np.percentile(cold_extra, 50):.1f} ms, "
          f"p99 {np.percentile(cold_extra, 99):.1f} ms over {len(cold_extra)} models")  # fmt: skip
    one_p, two_p = (statistics.median(processes[w]) for w in (1, 2))
    print(f"\nAPI processes at N = 100 round-robin, img/s: 1 process "
          f"{', '.join(f'{x:.1f}' for x in processes[1])}; 2 processes "
          f"{', '.join(f'{x:.1f}' for x in processes[2])}; medians x{two_p / one_p:.2f}")  # fmt: skip
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
