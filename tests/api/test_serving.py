"""Serving many models over HTTP: requests for different models share forward passes."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as photos
from support.client import small_job
from support.exported import onnx_metadata, run_onnx, user_preprocess


def _png(array) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models(alice) -> list[str]:  # type: ignore[no-untyped-def]
    """Three models on one backbone at one input size: two probes and a program."""
    digits = {"name": "digits", "max_per_class": 20, "test_max_per_class": 5}
    specs = [
        small_job(name="serve-a"),
        small_job(name="serve-b", dataset={**digits, "classes": [0, 1, 2]}),
        small_job(
            name="serve-c",
            method={
                "kind": "adversarial_program",
                "canvas_size": 32,
                "image_size": 24,
                "label_mapping": "frequency",
            },
            hyperparameters={"epochs": 1, "batch_size": 32},
        ),
    ]
    ids = [alice.post("/v1/jobs", json=spec).json()["id"] for spec in specs]
    return [alice.wait(job_id)["model_id"] for job_id in ids]


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} is not in /metrics"
    return float(found.group(1))


def test_requests_for_different_models_share_forward_passes(  # type: ignore[no-untyped-def]
    alice, service, models: list[str]
) -> None:
    images = [_png(photos.chelsea()), _png(photos.coffee())]

    def predict(model_id: str, image: bytes) -> list[str]:
        r = alice.post(
            f"/v1/models/{model_id}/predict", files=[("files", ("i.png", image, "image/png"))],
            params={"top_k": 3},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return [p["label"] for p in r.json()["predictions"][0]["top_k"]]

    alone = {(m, i): predict(m, images[i]) for m in models for i in range(2)}
    requests = [(m, i) for m in models for i in range(2)] * 8
    mixed_before = _mixed_batches(service)
    for _ in range(5):  # concurrent bursts until forward passes have mixed models
        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(lambda r: predict(r[0], images[r[1]]), requests))
        for request, answer in zip(requests, answers, strict=True):
            assert answer == alone[request]
        if _mixed_batches(service) > mixed_before:
            break
    assert _mixed_batches(service) > mixed_before

    text = httpx.get(service.api_url + "/metrics").text
    for model_id in models:
        assert _metric(text, "reprogram_model_requests_total", f'model_id="{model_id}"') >= 2
    assert _metric(text, "reprogram_model_load_seconds_count") >= len(models)
    assert _metric(text, "reprogram_model_cache_backbones") >= 1
    resident = _metric(text, "reprogram_model_cache_bytes", 'kind="resident"')
    assert 0 < resident <= _metric(text, "reprogram_model_cache_bytes", 'kind="budget"')


def _mixed_batches(service) -> float:  # type: ignore[no-untyped-def]
    """Forward passes so far that served more than one model."""
    text = httpx.get(service.api_url + "/metrics").text
    total = _metric(text, "reprogram_predict_batch_models_count")
    single = _metric(text, "reprogram_predict_batch_models_bucket", 'le="1.0"')
    return total - single


def test_a_model_that_cannot_load_gets_a_named_error_and_others_keep_serving(  # type: ignore[no-untyped-def]
    alice, service, models: list[str], data_dir: Path
) -> None:
    broken = alice.wait(alice.post("/v1/jobs", json=small_job(name="to-break")).json()["id"])
    model_id = broken["model_id"]
    # The API fetches artifacts from the store into this machine's cache; spoil that copy.
    cache = data_dir / "artifact-cache" / model_id
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "model.safetensors"):
        (cache / name).write_text("{ not json")
    image = [("files", ("c.png", _png(photos.coffee()), "image/png"))]
    r = alice.post(f"/v1/models/{model_id}/predict", files=image)
    assert r.status_code == 500, r.text
    error = r.json()["error"]
    assert error["code"] == "model_load_failed" and model_id in error["message"]
    assert "not valid JSON" in error["message"]
    assert alice.post(f"/v1/models/{models[0]}/predict", files=image).status_code == 200


@pytest.fixture(scope="module")
def fp32_api(service, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A second API on the same deployment: two uvicorn worker processes, serving in fp32."""
    from support.services import Service

    second = Service(
        env=service.env | {"REPROGRAM_PREDICT_PRECISION": "fp32"},
        data_dir=tmp_path_factory.mktemp("fp32-api"),
    )
    second.start_api("--workers", "2")
    try:
        yield second
    finally:
        second.stop()


def test_two_api_processes_serve_the_same_models(  # type: ignore[no-untyped-def]
    alice, fp32_api, models: list[str]
) -> None:
    assert fp32_api.api is not None
    children = Path(f"/proc/{fp32_api.api.pid}/task/{fp32_api.api.pid}/children").read_text()
    assert len(children.split()) >= 2  # uvicorn's workers (and its process-spawn helper)
    image = [("files", ("c.png", _png(photos.coffee()), "image/png"))]
    headers = {"Authorization": alice.headers["Authorization"]}

    def predict(model_id: str) -> list[str]:
        r = httpx.post(f"{fp32_api.api_url}/v1/models/{model_id}/predict", files=image,
                       headers=headers, timeout=120)  # fmt: skip
        assert r.status_code == 200, r.text
        return [p["label"] for p in r.json()["predictions"][0]["top_k"]]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(predict, models * 8))
    for model_id, answer in zip(models * 8, answers, strict=True):
        assert answer == answers[models.index(model_id)]


def test_exports_agree_with_predict(  # type: ignore[no-untyped-def]
    alice, fp32_api, models: list[str], tmp_path: Path
) -> None:
    images = [Image.fromarray(p) for p in (photos.chelsea(), photos.coffee(), photos.camera())]
    files = [
        ("files", (f"{i}.png", _png(np.asarray(im)), "image/png")) for i, im in enumerate(images)
    ]
    headers = {"Authorization": alice.headers["Authorization"]}
    for model_id in (models[0], models[2]):  # a probe and a program
        exported = alice.get(f"/v1/models/{model_id}/export", params={"format": "onnx"})
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-disposition"].endswith(f'{model_id}.onnx"')
        (tmp_path / "m.onnx").write_bytes(exported.content)
        labels, details = onnx_metadata(tmp_path / "m.onnx")
        assert labels == alice.get(f"/v1/models/{model_id}").json()["labels"]
        probs = run_onnx(tmp_path / "m.onnx", images)

        # The same top-k, and the same scores, as /predict serving in fp32 ...
        exact = httpx.post(f"{fp32_api.api_url}/v1/models/{model_id}/predict", files=files,
                           params={"top_k": 3}, headers=headers, timeout=120).json()  # fmt: skip
        for row, want in zip(probs, exact["predictions"], strict=True):
            top = [labels[i] for i in np.argsort(-row)[:3]]
            assert top == [p["label"] for p in want["top_k"]]
            assert [row[labels.index(p["label"])] for p in want["top_k"]] == pytest.approx(
                [p["score"] for p in want["top_k"]], abs=1e-4
            )
        # ... and the scores of the default service (bf16 where the CPU has it) within its precision.
        default = alice.post(f"/v1/models/{model_id}/predict", files=files, params={"top_k": 3})
        for row, want in zip(probs, default.json()["predictions"], strict=True):
            assert [row[labels.index(p["label"])] for p in want["top_k"]] == pytest.approx(
                [p["score"] for p in want["top_k"]], abs=0.02
            )

        scripted = alice.get(f"/v1/models/{model_id}/export", params={"format": "torchscript"})
        assert scripted.status_code == 200, scripted.text
        (tmp_path / "m.pt").write_bytes(scripted.content)
        module = torch.jit.load(str(tmp_path / "m.pt"))
        batch = np.concatenate([user_preprocess(im, details) for im in images])
        with torch.no_grad():
            np.testing.assert_allclose(module(torch.from_numpy(batch)).numpy(), probs, atol=1e-4)

    assert (
        alice.get(f"/v1/models/{models[0]}/export", params={"format": "tflite"}).status_code == 422
    )
    assert alice.get("/v1/models/mdl_00000000000000000000/export").status_code == 404
