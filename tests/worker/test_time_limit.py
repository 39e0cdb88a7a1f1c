"""A job that runs past REPROGRAM_JOB_TIME_LIMIT_S fails with a message that says so."""

from __future__ import annotations

import uuid

import httpx
from support.client import small_job
from support.services import Service


def test_a_job_over_the_time_limit_fails_and_says_why(alice, service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A deployment on the same database with a queue of its own, whose worker allows 4 s a job.
    limited = Service(
        env=service.env | {"REPROGRAM_QUEUE": f"limited-{uuid.uuid4().hex[:8]}",
                           "REPROGRAM_JOB_TIME_LIMIT_S": "4"},
        data_dir=tmp_path,
    )  # fmt: skip
    try:
        limited.start_worker()
        limited.start_api()
        spec = small_job(
            name="too-long",
            method={"kind": "adversarial_program", "canvas_size": 32},
            hyperparameters={"epochs": 200, "batch_size": 16},
        )
        headers = {"Authorization": alice.headers["Authorization"]}
        job = httpx.post(f"{limited.api_url}/v1/jobs", json=spec, headers=headers).json()
        done = alice.wait(job["id"], timeout=300)
        assert done["status"] == "failed"
        assert done["error"] == "time limit of 4 s exceeded"
        assert done["epoch"] < 200 and done["model_id"] is None
    finally:
        limited.stop()
