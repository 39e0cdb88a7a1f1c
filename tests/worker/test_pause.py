"""Pause and resume: a paused job frees its worker, and resumed it ends where it would have."""

from __future__ import annotations

from support.client import small_job

SPEC = small_job(
    name="pausable",
    dataset={"name": "mnist_5k", "max_per_class": 12, "test_max_per_class": 5},
    method={"kind": "adversarial_program", "canvas_size": 32, "label_mapping": "learned"},
    hyperparameters={"epochs": 6, "batch_size": 16, "seed": 7},
)


def _epochs(client, job_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    events = client.get(f"/v1/jobs/{job_id}/events").json()["data"]
    return [e["metrics"] for e in events if e["type"] == "epoch"]


def test_a_paused_job_resumes_and_ends_as_an_uninterrupted_one(alice) -> None:  # type: ignore[no-untyped-def]
    whole = alice.wait(alice.post("/v1/jobs", json=SPEC).json()["id"])
    assert whole["status"] == "succeeded", whole["error"]

    job = alice.post("/v1/jobs", json=SPEC).json()
    alice.wait_for_event(job["id"], lambda e: e["type"] == "epoch")
    pausing = alice.post(f"/v1/jobs/{job['id']}/pause")
    assert pausing.status_code == 200 and pausing.json()["status"] in ("pausing", "paused")
    paused = alice.wait(job["id"], until=("paused",), timeout=120)
    assert paused["status"] == "paused" and paused["epoch"] < 6
    messages = [
        e["message"] or "" for e in alice.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    ]
    assert any(m.startswith("paused: resumes") for m in messages), messages
    assert alice.post(f"/v1/jobs/{job['id']}/pause").status_code == 409  # already paused

    # The worker is free: another job runs to the end while this one is paused.
    other = alice.wait(alice.post("/v1/jobs", json=small_job(name="meanwhile")).json()["id"])
    assert other["status"] == "succeeded"
    assert alice.get(f"/v1/jobs/{job['id']}").json()["status"] == "paused"

    resumed = alice.post(f"/v1/jobs/{job['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "queued"
    done = alice.wait(job["id"], timeout=300)
    assert done["status"] == "succeeded", done["error"]
    assert done["metrics"]["test_accuracy"] == whole["metrics"]["test_accuracy"]
    ours, reference = _epochs(alice, job["id"]), _epochs(alice, whole["id"])
    assert [m["epoch"] for m in ours] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(ours, reference, strict=True):
        assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"], a["epoch"]
    assert alice.post(f"/v1/jobs/{job['id']}/resume").status_code == 409  # not paused


def test_a_queued_or_paused_job_is_paused_or_cancelled_at_once(alice) -> None:  # type: ignore[no-untyped-def]
    slow = small_job(method={"kind": "adversarial_program", "canvas_size": 32},
                     hyperparameters={"epochs": 200, "batch_size": 16})  # fmt: skip
    running = alice.post("/v1/jobs", json=slow).json()
    alice.wait_for_event(running["id"], lambda e: e["type"] == "epoch")
    queued = alice.post("/v1/jobs", json=small_job(name="behind")).json()  # the worker is busy
    paused = alice.post(f"/v1/jobs/{queued['id']}/pause").json()
    assert paused["status"] == "paused"
    assert alice.post(f"/v1/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
    alice.post(f"/v1/jobs/{running['id']}/cancel")
    assert alice.wait(running["id"], timeout=120)["status"] == "cancelled"
