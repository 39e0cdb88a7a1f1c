"""Serving: /predict throughput and latency against the raw model, and memory per deployed model.

In one run: trains a small linear probe through the real embedded service, then measures
(1) /predict images/s with 32 concurrent clients ÷ the raw batched forward of the same model,
(2) the p50 latency of a one-image request minus a raw one-image forward, and (3) the resident
memory of a process serving 20 models on one backbone ÷ serving one (and, for contrast, 20
models that each load their own backbone).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, describe_device, fresh_data_dir, table, verdict

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (default: this one), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def photo_png(size: int) -> bytes:
    """A real photo (scikit-image's cat), resized, as PNG bytes."""
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).resize((size, size)).save(buffer, format="PNG")
    return buffer.getvalue()


def spec(size: int, seed: int, classes: list[int] | None = None) -> dict:
    dataset: dict = {"name": "digits", "max_per_class": 30, "test_max_per_class": 10, "seed": 0}
    if classes:
        dataset["classes"] = classes
    return {
        "name": f"serving-bench-{seed}",
        "backbone": {"name": "efficientnet_lite0"},
        "dataset": dataset,
        "method": {"kind": "linear_probe", "input_size": size},
        "hyperparameters": {"epochs": 3, "batch_size": 64, "seed": seed},
    }


def start_server(data_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPROGRAM_")}
    env["REPROGRAM_DATA_DIR"] = str(data_dir)
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "reprogram.cli", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the embedded server did not start; see " + str(data_dir / "serve.log"))


def train_through_service(url: str, key: str, size: int) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    job = httpx.post(url + "/v1/jobs", json=spec(size, 0), headers=headers).json()
    while True:
        job = httpx.get(f"{url}/v1/jobs/{job['id']}", headers=headers).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    if job["status"] != "succeeded":
        raise RuntimeError(f"training failed: {job['error']}")
    return job["model_id"]


async def concurrent_throughput(
    url: str, key: str, model_id: str, image: bytes, *, clients: int, requests_each: int
) -> tuple[float, list[float]]:
    """images/s over `clients` concurrent one-image requests, and every request's latency."""
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as c:

        async def client() -> None:
            for _ in range(requests_each):
                start = time.perf_counter()
                r = await c.post(f"/v1/models/{model_id}/predict",
                                 files=[("files", ("cat.png", image, "image/png"))])  # fmt: skip
                r.raise_for_status()
                latencies.append(time.perf_counter() - start)

        await client()  # warm-up: loads the model
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return clients * requests_each / elapsed, latencies


def wrk(
    url: str, key: str, model_id: str, image: bytes, *, clients: int, seconds: int, workdir: Path
) -> tuple[float, float] | None:
    """(requests/s, p50 latency ms) from wrk, a C load generator that leaves the CPU to the
    server; None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    boundary = "reprogrambench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"cat.png\"\r\nContent-Type: image/png\r\n\r\n").encode()  # fmt: skip
    body += image + f"\r\n--{boundary}--\r\n".encode()
    (workdir / "body.bin").write_bytes(body)
    script = workdir / "predict.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"\n'
        f'local f = io.open("{workdir / "body.bin"}", "rb")\n'
        'wrk.body = f:read("*all")\nf:close()\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "60s", "--latency",
         "-s", str(script), f"{url}/v1/models/{model_id}/predict"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    p50 = next(x for x in out.splitlines() if x.strip().startswith("50%")).split()[1]
    return float(rate.split()[1]), _milliseconds(p50)


def _milliseconds(text: str) -> float:
    """wrk's '12.34ms' / '1.20s' / '950.00us' in milliseconds."""
    for unit, factor in (("ms", 1.0), ("us", 1e-3), ("s", 1000.0), ("m", 60_000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(f"not a wrk duration: {text}")


def histogram(url: str, name: str) -> tuple[float, float]:
    """(sum, count) of one of the server's histograms so far, from its /metrics."""
    totals = {"sum": 0.0, "count": 0.0}
    for line in httpx.get(url + "/metrics").text.splitlines():
        for part in totals:
            if line.startswith(f"{name}_{part} "):
                totals[part] = float(line.split()[1])
    return totals["sum"], totals["count"]


def mean_between(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """The mean of a histogram's observations between two readings."""
    count = after[1] - before[1]
    return (after[0] - before[0]) / count if count else None


def raw_reference(artifact: Path, image: bytes, *, batch: int, repeats: int) -> tuple[float, float]:
    """(batched images/s, p50 ms of a one-image forward) of the same model, in-process."""
    import torch

    from reprogramming.predictor import Predictor

    predictor = Predictor.from_artifact(artifact)
    one = predictor.preprocess([image])
    many = one.repeat(batch, 1, 1, 1)
    predictor.probabilities(many)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        predictor.probabilities(many)
    batched = batch * repeats / (time.perf_counter() - start)
    singles = []
    for _ in range(max(20, repeats * 4)):
        t = time.perf_counter()
        predictor.probabilities(one)
        singles.append(time.perf_counter() - t)
    del torch
    return batched, statistics.median(singles) * 1000


def memory_child(artifacts: list[str], shared: bool) -> None:
    """Print RSS (MB) after imports, after one model, after all of them (run in a subprocess)."""
    import torch  # noqa: F401

    from reprogramming.predictor import Predictor
    from reprogramming.serving import ModelServer

    gc.collect()
    base = rss_mb()
    server = ModelServer(budget_bytes=2**40)
    loaded = []
    sizes = []
    for i, path in enumerate(artifacts):
        if shared:
            loaded.append(server.load(f"m{i}", lambda path=path: Path(path)))
        else:
            loaded.append(Predictor.from_artifact(path))
        gc.collect()
        sizes.append(rss_mb())
    print(json.dumps({"base": base, "one": sizes[0], "all": sizes[-1], "n": len(artifacts),
                      "backbones": server.stats().backbones}))  # fmt: skip


def memory(artifacts: list[Path], shared: bool) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--shared" if shared else "--separate",
         *map(str, artifacts)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=112, help="model input side (224 on a GPU)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=6, help="requests per client")
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--port", type=int, default=8765)
    args, rest = parser.parse_known_args()
    if "--memory-child" in sys.argv:
        paths = [a for a in rest if not a.startswith("--")]
        memory_child(paths, shared="--shared" in sys.argv)
        return

    import torch

    print(f"$ {command_line()}")
    print(f"device: {describe_device(torch.device('cpu'))}; torch {torch.__version__}")
    image = photo_png(128)
    with fresh_data_dir() as data_dir:
        server, url = start_server(data_dir, args.port)
        try:
            key = (data_dir / "api-key").read_text().strip()
            model_id = train_through_service(url, key, args.size)
            artifact = data_dir / "artifact-cache" / model_id
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
                c.post(
                    f"/v1/models/{model_id}/predict",  # materialise the artifact locally
                    files=[("files", ("cat.png", image, "image/png"))],
                ).raise_for_status()
            # The raw reference runs before and after the served measurements (the server idle),
            # and the best of each is kept: a busy machine then penalises neither side.
            raws = [raw_reference(artifact, image, batch=args.clients, repeats=5)]
            served_ips, latencies = asyncio.run(
                concurrent_throughput(url, key, model_id, image, clients=args.clients,
                                      requests_each=args.requests)
            )  # fmt: skip
            batches = histogram(url, "reprogram_predict_batch_images")
            loaded = wrk(url, key, model_id, image, clients=args.clients, seconds=15,
                         workdir=data_dir)  # fmt: skip
            loaded_batch = mean_between(batches, histogram(url, "reprogram_predict_batch_images"))
            forwards = histogram(url, "reprogram_predict_forward_seconds")
            lone = wrk(url, key, model_id, image, clients=1, seconds=10, workdir=data_dir)
            lone_forward = mean_between(
                forwards, histogram(url, "reprogram_predict_forward_seconds")
            )
            sequential: list[float] = []
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
                for _ in range(30):
                    t = time.perf_counter()
                    c.post(
                        f"/v1/models/{model_id}/predict",
                        files=[("files", ("cat.png", image, "image/png"))],
                    ).raise_for_status()
                    sequential.append(time.perf_counter() - t)
            raws.append(raw_reference(artifact, image, batch=args.clients, repeats=5))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
        raw_ips = max(r[0] for r in raws)
        raw_single_ms = min(r[1] for r in raws)

        from reprogramming.job import run_job

        artifacts = []
        for seed in range(args.models):
            out = data_dir / "models" / f"m{seed}"
            run_job(spec(args.size, seed), output_dir=out, data_dir=data_dir)
            artifacts.append(out)
        shared = memory(artifacts, shared=True)
        separate = memory(artifacts, shared=False)

    served_p50 = statistics.median(sequential) * 1000
    throughput_ratio = served_ips / raw_ips
    overhead = served_p50 - raw_single_ms
    wrk_ips = loaded[0] if loaded else None
    memory_ratio = shared["all"] / shared["one"]
    print(f"\nlinear probe on efficientnet_lite0 at {args.size} px; {args.clients} clients x "
          f"{args.requests} one-image requests\n")  # fmt: skip
    print(table(
        ["measure", "served", "raw", "ratio / difference", "goal"],
        [
            ["images/s, 32 clients (Python httpx)", f"{served_ips:.1f}", f"{raw_ips:.1f} (batch "
             f"{args.clients})", f"{throughput_ratio:.2f}", f">= 0.8: {verdict(throughput_ratio, 0.8)}"],
            *([["images/s, 32 connections (wrk)", f"{wrk_ips:.1f}", f"{raw_ips:.1f}",
                f"{wrk_ips / raw_ips:.2f}", f">= 0.8: {verdict(wrk_ips / raw_ips, 0.8)}"]]
              if wrk_ips is not None else []),
            ["p50 one-image latency, ms (Python httpx)", f"{served_p50:.1f}",
             f"{raw_single_ms:.1f}", f"+{overhead:.1f} ms",
             f"<= 10 ms: {'met' if overhead <= 10 else 'NOT met'}"],
            *([["p50 one-image latency, ms (wrk, 1 connection)", f"{lone[1]:.1f}",
                f"{raw_single_ms:.1f}", f"+{lone[1] - raw_single_ms:.1f} ms",
                f"<= 10 ms: {'met' if lone[1] - raw_single_ms <= 10 else 'NOT met'}"]]
              if lone is not None else []),
            [f"RSS MB, {args.models} models on one backbone", f"{shared['all']:.0f}",
             f"{shared['one']:.0f} (one model)", f"{memory_ratio:.2f}",
             f"<= 1.2: {'met' if memory_ratio <= 1.2 else 'NOT met'}"],
        ],
    ))  # fmt: skip
    print(f"raw runs: {', '.join(f'{r[0]:.1f} img/s, {r[1]:.1f} ms' for r in raws)}")
    if lone is not None and lone_forward is not None:
        print(f"lone requests (wrk, 1 connection): p50 {lone[1]:.1f} ms, of which the server's "
              f"forward pass took {1000 * lone_forward:.1f} ms on average (/metrics) against "
              f"{raw_single_ms:.1f} ms in-process")  # fmt: skip
    if loaded_batch is not None:
        print(f"under wrk's {args.clients} connections the server ran batches of "
              f"{loaded_batch:.1f} images on average")  # fmt: skip
    print(f"\nconcurrent latency p50/p95: {statistics.median(latencies) * 1000:.0f} / "
          f"{np.percentile(latencies, 95) * 1000:.0f} ms")  # fmt: skip
    print(f"memory above the bare process (imports only, {shared['base']:.0f} MB): one model "
          f"+{shared['one'] - shared['base']:.0f} MB, {args.models} shared-backbone models "
          f"+{shared['all'] - shared['base']:.0f} MB ({shared['backbones']} backbone in memory); "
          f"{args.models} models each with its own backbone +{separate['all'] - separate['base']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
