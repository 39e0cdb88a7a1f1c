"""The whole job lifecycle through HTTP against the real deployment."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
from PIL import Image
from skimage import data as photos
from support.client import small_job


def _png(array) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_create_run_events_model_predict(alice) -> None:  # type: ignore[no-untyped-def]
    created = alice.post("/v1/jobs", json=small_job())
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "queued" and job["id"].startswith("job_")

    # the live stream replays from the start and ends when the job ends
    seen: list[dict] = []
    with alice.stream("GET", f"/v1/jobs/{job['id']}/events/stream", timeout=300) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event_type = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event_type = line[7:]
            elif line.startswith("data: ") and event_type != "end":
                seen.append(json.loads(line[6:]))
            elif line.startswith("data: ") and event_type == "end":
                break
    epochs = [e for e in seen if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(epochs[0]["metrics"])
    statuses = [e["message"] for e in seen if e["type"] == "status"]
    assert statuses[0] == "queued" and statuses[1] == "running" and statuses[-1] == "succeeded"

    done = alice.wait(job["id"])
    assert done["status"] == "succeeded" and done["model_id"].startswith("mdl_")
    assert done["metrics"]["test_accuracy"] > 0.2

    # polling events with ?after= returns only the newer ones
    events = alice.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    later = alice.get(f"/v1/jobs/{job['id']}/events", params={"after": events[2]["id"]}).json()
    assert [e["id"] for e in later["data"]] == [e["id"] for e in events[3:]]

    model = alice.get(f"/v1/models/{done['model_id']}").json()
    assert model["job_id"] == job["id"] and model["labels"] == [str(d) for d in range(10)]
    assert model["metrics"]["test_accuracy"] == done["metrics"]["test_accuracy"]
    assert model["backbone"]["name"] == "efficientnet_lite0"

    files = [("files", ("cat.png", _png(photos.chelsea()), "image/png")),
             ("files", ("coffee.png", _png(photos.coffee()), "image/png"))]  # fmt: skip
    predicted = alice.post(
        f"/v1/models/{done['model_id']}/predict", files=files, params={"top_k": 3}
    )
    assert predicted.status_code == 200, predicted.text
    predictions = predicted.json()["predictions"]
    assert len(predictions) == 2 and len(predictions[0]["top_k"]) == 3
    assert all(p["label"] in model["labels"] for p in predictions[0]["top_k"])

    import base64

    b64 = base64.b64encode(_png(photos.chelsea())).decode()
    as_json = alice.post(
        f"/v1/models/{done['model_id']}/predict", json={"images": [b64], "top_k": 3}
    )
    assert as_json.status_code == 200
    by_json = as_json.json()["predictions"][0]["top_k"]
    assert [p["label"] for p in by_json] == [p["label"] for p in predictions[0]["top_k"]]
    for a, b in zip(by_json, predictions[0]["top_k"], strict=True):
        assert abs(a["score"] - b["score"]) < 1e-4  # batched with another image or not

    artifact = alice.get(f"/v1/models/{done['model_id']}/artifact")
    assert artifact.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(artifact.content)).namelist()
    assert sorted(n.split("/")[-1] for n in names) == ["manifest.json", "model.safetensors"]
    manifest = alice.get(
        f"/v1/models/{done['model_id']}/artifact", params={"file": "manifest.json"}
    )
    assert manifest.json()["metrics"]["test_accuracy"] == done["metrics"]["test_accuracy"]


def test_a_model_is_the_backbone_of_a_later_job(alice) -> None:  # type: ignore[no-untyped-def]
    first = alice.wait(alice.post("/v1/jobs", json=small_job()).json()["id"])
    spec = small_job(
        backbone={"model_id": first["model_id"]},
        method={"kind": "adversarial_program", "label_mapping": "first_k", "canvas_size": 32},
        hyperparameters={"epochs": 1, "batch_size": 32},
    )
    second = alice.wait(alice.post("/v1/jobs", json=spec).json()["id"])
    assert second["status"] == "succeeded", second["error"]
    predicted = alice.post(
        f"/v1/models/{second['model_id']}/predict",
        files=[("files", ("coffee.png", _png(photos.coffee()), "image/png"))],
    )
    assert predicted.status_code == 200, predicted.text


def test_idempotency_key_returns_the_same_job(alice) -> None:  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": "order-66"}
    first = alice.post("/v1/jobs", json=small_job(name="idem"), headers=headers)
    again = alice.post("/v1/jobs", json=small_job(name="idem"), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    other = alice.post("/v1/jobs", json=small_job(name="different"), headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    alice.wait(first.json()["id"])


def test_cancel_a_running_job(alice) -> None:  # type: ignore[no-untyped-def]
    spec = small_job(
        method={"kind": "adversarial_program", "canvas_size": 32},
        hyperparameters={"epochs": 200, "batch_size": 16},
    )
    job = alice.post("/v1/jobs", json=spec).json()
    alice.wait_for_event(job["id"], lambda e: e["type"] == "epoch")
    cancelled = alice.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] in (
        "cancelling",
        "cancelled",
    )
    done = alice.wait(job["id"], timeout=120)
    assert done["status"] == "cancelled" and done["model_id"] is None
    again = alice.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409


def test_cancel_a_queued_job_is_immediate(alice, service) -> None:  # type: ignore[no-untyped-def]
    blocker = alice.post("/v1/jobs", json=small_job(
        method={"kind": "adversarial_program", "canvas_size": 32},
        hyperparameters={"epochs": 200, "batch_size": 16})).json()  # fmt: skip
    queued = alice.post("/v1/jobs", json=small_job(name="waiting")).json()
    assert alice.get(f"/v1/jobs/{queued['id']}").json()["status"] == "queued"
    assert alice.post(f"/v1/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
    alice.post(f"/v1/jobs/{blocker['id']}/cancel")
    assert alice.wait(blocker["id"])["status"] == "cancelled"


def test_list_jobs_pages_and_filters(alice) -> None:  # type: ignore[no-untyped-def]
    seen, cursor = [], None
    while True:
        page = alice.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        body = page.json()
        seen += [j["id"] for j in body["data"]]
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) >= 4
    succeeded = alice.get("/v1/jobs", params={"status": "succeeded", "limit": 200}).json()["data"]
    assert succeeded and all(j["status"] == "succeeded" for j in succeeded)
    bad = alice.get("/v1/jobs", params={"status": "exploded"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"


def test_health_readiness_metrics(alice, service) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(service.api_url + "/healthz").json()["status"] == "ok"
    ready = httpx.get(service.api_url + "/readyz").json()
    assert ready["checks"] == {"database": "ok", "broker": "ok"}
    text = httpx.get(service.api_url + "/metrics").text
    assert 'reprogram_jobs{status="succeeded"}' in text
    assert "reprogram_http_requests_total" in text and "reprogram_predict_batch_images" in text
    assert "reprogram_predict_forward_seconds_count" in text


def test_concurrent_first_predictions_all_succeed(alice) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    model_id = alice.wait(alice.post("/v1/jobs", json=small_job(name="fresh")).json()["id"])[
        "model_id"
    ]
    image = _png(photos.coffee())

    def predict(_: int) -> tuple[int, str]:
        r = alice.post(
            f"/v1/models/{model_id}/predict", files=[("files", ("c.png", image, "image/png"))]
        )
        return r.status_code, r.text

    # More concurrent requests than the database pool has connections: a request waiting for
    # its batch must not hold one. The first of them also loads the model.
    with ThreadPoolExecutor(48) as pool:
        results = list(pool.map(predict, range(48)))
    assert all(status == 200 for status, _ in results), [t for s, t in results if s != 200][:2]
    labels = {json.loads(text)["predictions"][0]["top_k"][0]["label"] for _, text in results}
    assert len(labels) == 1  # batched together or not, the same image gets the same answer


def test_event_stream_replays_after_last_event_id(alice) -> None:  # type: ignore[no-untyped-def]
    job = alice.wait(alice.post("/v1/jobs", json=small_job(name="replay")).json()["id"])
    events = alice.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    resume_after = events[3]["id"]
    ids = []
    headers = {"Last-Event-ID": str(resume_after)}
    with alice.stream("GET", f"/v1/jobs/{job['id']}/events/stream", headers=headers) as stream:
        for line in stream.iter_lines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            if line.startswith("event: end"):
                break
    assert ids == [e["id"] for e in events if e["id"] > resume_after]
