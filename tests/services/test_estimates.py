"""Time estimates: from similar past jobs at submission, then from the job's own pace."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from support.client import small_job
from support.services import Service

from config.settings import Settings
from db.models import Job
from db.session import session_scope


def test_a_job_is_estimated_from_similar_jobs_then_from_its_own_pace(  # type: ignore[no-untyped-def]
    alice, service, tmp_path: Path
) -> None:
    fleet = Service(env=service.env | {"REPROGRAM_QUEUE": f"eta-{uuid.uuid4().hex[:8]}"},
                    data_dir=tmp_path)  # fmt: skip
    url = Settings(database_url=service.env["REPROGRAM_DATABASE_URL"]).sqlalchemy_url
    headers = {"Authorization": alice.headers["Authorization"]}
    try:
        fleet.start_worker()
        fleet.start_api()
        with httpx.Client(base_url=fleet.api_url, headers=headers, timeout=60) as client:
            first = client.post("/v1/jobs", json=small_job(name="eta-first")).json()
            assert first["estimated_seconds"] is None  # nothing like it has run on this queue
            done = alice.wait(first["id"])
            assert done["status"] == "succeeded", done["error"]
            epochs = [e for e in client.get(f"/v1/jobs/{first['id']}/events").json()["data"]
                      if e["type"] == "epoch"]  # fmt: skip
            finishes = [datetime.fromisoformat(e["metrics"]["estimated_finish_at"]) for e in epochs]
            assert len(finishes) == 3 and finishes[-1] <= datetime.fromisoformat(
                done["finished_at"]
            )
            with session_scope(url) as session:
                pace = session.scalar(select(Job.seconds_per_epoch).where(Job.id == first["id"]))
            assert pace is not None and pace > 0

            # The same shape under another name and seed: predicted from the first one's pace.
            again = small_job(name="eta-second", hyperparameters={"epochs": 5, "batch_size": 32,
                                                                  "seed": 3})  # fmt: skip
            second = client.post("/v1/jobs", json=again).json()
            assert second["estimated_seconds"] == pace * 5
            created = datetime.fromisoformat(second["created_at"])
            predicted = datetime.fromisoformat(second["estimated_finish_at"])
            assert abs((predicted - created).total_seconds() - pace * 5) < 1e-3
            # Another dataset cap, same backbone, method and size: the family's pace.
            other = small_job(dataset={"name": "digits", "max_per_class": 15})
            third = client.post("/v1/jobs", json=other).json()
            assert third["estimated_seconds"] == pace * 3
            assert client.post(f"/v1/jobs/{third['id']}/cancel").status_code == 200
            assert alice.wait(second["id"])["status"] == "succeeded"
    finally:
        fleet.stop()


def test_a_job_unlike_any_before_is_estimated_from_the_workers_calibration(  # type: ignore[no-untyped-def]
    alice, service, tmp_path: Path
) -> None:
    queue = f"calibrated-{uuid.uuid4().hex[:8]}"  # a queue no job has run on: no history
    env = {"REPROGRAM_QUEUE": queue, "REPROGRAM_CALIBRATE": "true",
           "REPROGRAM_DATA_DIR": str(tmp_path)}  # fmt: skip
    fleet = Service(env=service.env | env, data_dir=tmp_path)
    headers = {"Authorization": alice.headers["Authorization"]}
    try:
        fleet.start_api()
        with httpx.Client(base_url=fleet.api_url, headers=headers, timeout=60) as client:
            cold = client.post("/v1/jobs", json=small_job(name="eta-cold")).json()
            assert cold["estimated_seconds"] is None  # no worker has measured itself yet
            assert client.post(f"/v1/jobs/{cold['id']}/cancel").status_code == 200
            fleet.start_worker()

            def measured() -> list[dict]:
                return [w["calibration"] for w in client.get("/v1/workers").json()["data"]
                        if queue in w["queues"] and w["calibration"]]  # fmt: skip

            deadline = time.monotonic() + 120
            while not measured():
                assert time.monotonic() < deadline, "the worker never reported its calibration"
                time.sleep(0.5)
            [calibration] = measured()
            assert set(calibration) == {"setup_s", "forward_s", "backward_s", "forward_s_small",
                                        "backward_s_small"}  # fmt: skip
            assert all(value > 0 for value in calibration.values())
            assert (tmp_path / "calibration.json").is_file()  # kept for the next start

            job = client.post("/v1/jobs", json=small_job(name="eta-calibrated")).json()
            assert job["estimated_seconds"] is not None and job["estimated_seconds"] > 0
            assert job["estimated_finish_at"] is not None
            # The same job at a larger side is estimated to take longer.
            big = small_job(name="eta-big", method={"kind": "linear_probe", "input_size": 160})
            bigger = client.post("/v1/jobs", json=big).json()
            assert bigger["estimated_seconds"] > job["estimated_seconds"]
            assert client.post(f"/v1/jobs/{bigger['id']}/cancel").status_code == 200
            assert alice.wait(job["id"])["status"] == "succeeded"
    finally:
        fleet.stop()
