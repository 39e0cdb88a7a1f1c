"""A worker killed mid-job: a new worker resumes the job from its last epoch checkpoint."""

from __future__ import annotations

from support.client import small_job


def test_kill_9_mid_job_resumes_from_checkpoint_with_one_model(alice, service) -> None:  # type: ignore[no-untyped-def]
    spec = small_job(
        name="survivor",
        method={"kind": "adversarial_program", "canvas_size": 32},
        hyperparameters={"epochs": 4, "batch_size": 16},
    )
    job = alice.post("/v1/jobs", json=spec).json()
    alice.wait_for_event(job["id"], lambda e: e["type"] == "epoch" and e["epoch"] == 2)
    service.kill_worker()
    assert alice.get(f"/v1/jobs/{job['id']}").json()["status"] == "running"  # nobody said otherwise

    service.start_worker()
    done = alice.wait(job["id"], timeout=600)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempt"] == 2

    events = alice.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    messages = [e["message"] or "" for e in events]
    assert any("resuming from the checkpoint" in m for m in messages)
    epochs = [e["epoch"] for e in events if e["type"] == "epoch"]
    # the second attempt starts after the last checkpointed epoch, not from scratch
    resumed_at = epochs.index(max(epochs[: epochs.index(2) + 1]) + 1, epochs.index(2))
    assert epochs[resumed_at:] == list(range(epochs[resumed_at], 5))
    assert epochs.count(1) == 1
    models = [m for m in alice.get("/v1/models", params={"limit": 200}).json()["data"]
              if m["job_id"] == job["id"]]  # fmt: skip
    assert len(models) == 1 and models[0]["id"] == done["model_id"]
