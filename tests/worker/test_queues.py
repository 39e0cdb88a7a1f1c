"""Accelerator-aware queues: a job waits, visibly and with a reason, for a worker that fits."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from support.client import small_job
from support.services import Service


def test_jobs_wait_for_a_worker_that_can_hold_them(alice, service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    queue = f"kinds-{uuid.uuid4().hex[:8]}"
    cpu = Service(env=service.env | {"REPROGRAM_QUEUE": queue}, data_dir=tmp_path)
    headers = {"Authorization": alice.headers["Authorization"]}
    try:
        cpu.start_worker()  # this machine has no GPU: it takes 'any' and 'cpu' jobs
        cpu.start_api()
        with httpx.Client(base_url=cpu.api_url, headers=headers, timeout=120) as client:
            gpu_job = client.post("/v1/jobs", json=small_job(resources={"accelerator": "cuda"}))
            assert gpu_job.status_code == 201, gpu_job.text
            huge = client.post("/v1/jobs", json=small_job(resources={"min_memory_gb": 100000}))
            fits = client.post("/v1/jobs", json=small_job(resources={"accelerator": "cpu"}))
            done = alice.wait(fits.json()["id"], timeout=300)
            assert done["status"] == "succeeded", done["error"]

            waiting = client.get(f"/v1/jobs/{gpu_job.json()['id']}").json()
            assert waiting["status"] == "queued" and waiting["attempt"] == 0
            assert f"no live worker takes queue '{queue}-cuda'" in waiting["waiting_reason"]
            too_big = client.get(f"/v1/jobs/{huge.json()['id']}").json()
            assert too_big["status"] == "queued" and too_big["attempt"] == 0
            assert "has 100000 GB" in too_big["waiting_reason"]
            assert done["waiting_reason"] is None
            listed = client.get("/v1/jobs", params={"status": "queued"}).json()["data"]
            assert {j["id"]: j["waiting_reason"] is not None for j in listed}[gpu_job.json()["id"]]

            deadline = time.monotonic() + 60  # the worker was handed the big job and said no
            while b"job refused" not in cpu.logs[0].read_bytes():
                assert time.monotonic() < deadline, cpu.logs[0].read_text()[-2000:]
                time.sleep(0.5)
            assert b"it needs 100000 GB" in cpu.logs[0].read_bytes()

            fleet = client.get("/v1/workers").json()["data"]
            ours = [w for w in fleet if queue in w["queues"]]
            assert len(ours) == 1 and ours[0]["kind"] == "cpu"
            assert ours[0]["queues"] == [queue, f"{queue}-cpu"]
            assert ours[0]["jobs_done"] >= 1 and ours[0]["busy"] is False
            for job in (gpu_job, huge):
                assert client.post(f"/v1/jobs/{job.json()['id']}/cancel").status_code == 200
    finally:
        cpu.stop()


def test_a_worker_refuses_a_kind_its_device_lacks(service) -> None:  # type: ignore[no-untyped-def]
    refused = subprocess.run(
        [sys.executable, "-m", "reprogram.cli", "worker", "--queues", "cuda"],
        env=service.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "no CUDA device" in refused.stderr, refused.stderr[-2000:]
