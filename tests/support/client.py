"""An HTTP client of the running service, and small job specs."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx


class Api(httpx.Client):
    """An HTTP client of the running service, signed in as one owner."""

    def wait(self, job_id: str, *, timeout: float = 300, until: tuple[str, ...] = ()) -> dict:
        """Poll a job until it ends (or reaches one of `until`)."""
        done = until or ("succeeded", "failed", "cancelled")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in done:
                return job
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")

    def wait_for_event(self, job_id: str, predicate: Any, *, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.get(f"/v1/jobs/{job_id}/events").json()["data"]:
                if predicate(event):
                    return event
            time.sleep(0.3)
        raise AssertionError(f"no matching event for {job_id} after {timeout}s")


def small_job(**overrides: Any) -> dict[str, Any]:
    """A job spec that trains in seconds on two CPU cores with the real Lite0 weights."""
    spec: dict[str, Any] = {
        "name": "digits-probe",
        "backbone": {"name": "efficientnet_lite0"},
        "dataset": {"name": "digits", "max_per_class": 20, "test_max_per_class": 10},
        "method": {"kind": "linear_probe", "input_size": 32},
        "hyperparameters": {"epochs": 3, "batch_size": 32},
    }
    return spec | overrides


def resume_point(message: str) -> tuple[int, int]:
    """(epoch, step) of a handed-back job's 'resumes at epoch E, step S' status message."""
    found = re.search(r"resumes at epoch (\d+), step (\d+)", message)
    assert found, message
    return int(found[1]), int(found[2])
