"""A worker that went silent and lost its job to another stops without finishing it."""

from __future__ import annotations

import os
import signal
import time

from support.client import small_job
from support.services import Service


def test_a_frozen_worker_that_lost_its_job_stops_and_the_new_owner_finishes(  # type: ignore[no-untyped-def]
    alice, service, tmp_path
) -> None:
    spec = small_job(
        name="taken-over",
        method={"kind": "adversarial_program", "canvas_size": 32},
        hyperparameters={"epochs": 3, "batch_size": 16},
    )
    job = alice.post("/v1/jobs", json=spec).json()
    alice.wait_for_event(job["id"], lambda e: e["type"] == "epoch" and e["epoch"] == 1)
    assert alice.get(f"/v1/jobs/{job['id']}").json()["attempt"] == 1
    assert service.worker is not None
    os.killpg(service.worker.pid, signal.SIGSTOP)  # silent, not dead: it will wake up later
    second = Service(env=service.env, data_dir=tmp_path)
    try:
        second.start_worker()  # its recovery scan finds the silent job and sends it again
        deadline = time.monotonic() + 120
        while alice.get(f"/v1/jobs/{job['id']}").json()["attempt"] < 2:
            assert time.monotonic() < deadline, "the job was never taken over"
            time.sleep(0.3)
        os.killpg(service.worker.pid, signal.SIGCONT)

        done = alice.wait(job["id"], timeout=600)
        assert done["status"] == "succeeded", done["error"]
        assert done["attempt"] == 2
        models = [m for m in alice.get("/v1/models", params={"limit": 200}).json()["data"]
                  if m["job_id"] == job["id"]]  # fmt: skip
        assert [m["id"] for m in models] == [done["model_id"]]
        # The first worker noticed at its next heartbeat or epoch and gave the job up.
        log = next(p for p in reversed(service.logs) if p.name.startswith("worker"))
        deadline = time.monotonic() + 60
        while not any(
            f"job_id={job['id']}" in line and "outcome=lost" in line
            for line in log.read_text().splitlines()
        ):
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
    finally:
        os.killpg(service.worker.pid, signal.SIGCONT)
        second.stop()
