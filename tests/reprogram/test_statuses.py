"""Job statuses: one StrEnum for the SDK, the CLI and the server, equal to the API's strings."""

from __future__ import annotations

import json

from reprogram import JobStatus
from reprogram.objects import JobFields, Sweep
from reprogram.statuses import ACTIVE, FINISHED, SWEEP_ACTIVE, SWEEP_FINISHED


def test_each_status_is_the_string_the_api_uses() -> None:
    assert [s.value for s in JobStatus] == [
        "queued", "running", "cancelling", "succeeded", "failed", "cancelled", "pausing", "paused"
    ]  # fmt: skip
    assert JobStatus("failed") is JobStatus.FAILED
    assert JobStatus.FAILED == "failed" and f"{JobStatus.FAILED}" == "failed"
    assert json.dumps({"status": JobStatus.RUNNING}) == '{"status": "running"}'


def test_a_status_is_either_active_or_finished() -> None:
    assert set(JobStatus) == FINISHED | ACTIVE and not FINISHED & ACTIVE
    assert {"succeeded", "failed", "cancelled"} == FINISHED
    assert "succeeded" in FINISHED and "queued" in ACTIVE  # plain strings from JSON match


def test_a_job_is_done_once_its_status_is_finished() -> None:
    for status in JobStatus:
        job = JobFields(id="job", status=status.value, spec={})
        assert job.done == (status in FINISHED)


def test_a_sweep_status_is_either_active_or_finished() -> None:
    assert {"running", "paused"} == SWEEP_ACTIVE and not SWEEP_ACTIVE & SWEEP_FINISHED
    for status in SWEEP_ACTIVE | SWEEP_FINISHED:
        assert Sweep(id="swp", status=status).done == (status in SWEEP_FINISHED)
