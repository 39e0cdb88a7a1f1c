"""Deleting what an owner stores: models, uploads and finished jobs, and what still needs them."""

from __future__ import annotations

import io
import os
import time
import uuid
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from support.client import Api, small_job
from support.services import Service

from config.settings import Settings
from db.models import Blob, Event, StoredObject
from db.session import session_scope

SLOW = {"method": {"kind": "adversarial_program", "canvas_size": 32},
        "hyperparameters": {"epochs": 200, "batch_size": 16}}  # fmt: skip


@pytest.fixture
def carol(service) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """An owner of her own, so what she stores is all that her usage counts."""
    name = f"carol-{uuid.uuid4().hex[:6]}"
    key = service.create_key(name)
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
             timeout=120) as client:  # fmt: skip
        client.owner_name = name  # type: ignore[attr-defined]
        yield client


def _archive() -> bytes:
    """A small image-folder zip whose bytes no other test uploads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in ("left", "right"):
            for i in range(5):
                image = io.BytesIO()
                Image.frombytes("RGB", (16, 16), os.urandom(16 * 16 * 3)).save(image, "PNG")
                archive.writestr(f"{label}/{i}.png", image.getvalue())
    return buffer.getvalue()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (28, 28), (240, 240, 240)).save(buffer, format="PNG")
    return buffer.getvalue()


def _url(service) -> str:  # type: ignore[no-untyped-def]
    return Settings(database_url=service.env["REPROGRAM_DATABASE_URL"]).sqlalchemy_url


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_an_upload_is_deleted_once_nothing_uses_it(carol, service) -> None:  # type: ignore[no-untyped-def]
    archive = _archive()
    ids = [carol.post("/v1/datasets", files={"file": ("lr.zip", archive)}).json()["id"]
           for _ in range(2)]  # fmt: skip
    key = carol.get(f"/v1/datasets/{ids[0]}").json()
    assert key["num_images"] == 10
    usage = carol.get("/v1/usage").json()
    assert usage["datasets"] == {"count": 2, "bytes": 2 * len(archive)}

    spec = small_job(dataset={"upload_id": ids[0], "image_size": 32, "val_fraction": 0.2}, **SLOW)
    job = carol.post("/v1/jobs", json=spec).json()
    error = _error(carol.delete(f"/v1/datasets/{ids[0]}"), 409)
    assert error["code"] == "dataset_in_use" and job["id"] in error["message"]
    carol.post(f"/v1/jobs/{job['id']}/cancel")
    carol.wait(job["id"], timeout=120)

    def stored() -> int:
        with session_scope(_url(service)) as session:
            return session.scalar(select(func.count()).select_from(StoredObject)
                                  .where(StoredObject.size == len(archive))) or 0  # fmt: skip

    assert carol.delete(f"/v1/datasets/{ids[0]}").status_code == 204
    assert stored() == 1  # the second upload still refers to the same bytes
    assert carol.delete(f"/v1/datasets/{ids[1]}").status_code == 204
    assert stored() == 0
    _error(carol.get(f"/v1/datasets/{ids[0]}"), 404)
    _error(carol.delete(f"/v1/datasets/{ids[0]}"), 404)
    assert carol.get("/v1/usage").json()["datasets"] == {"count": 0, "bytes": 0}


def test_models_and_jobs_are_deleted_in_order(carol, service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A second API process that already serves the models: a delete elsewhere reaches it.
    other = Service(env=service.env | {"REPROGRAM_MODEL_RECHECK_S": "0.5"}, data_dir=tmp_path)
    try:
        other.start_api()
        base = carol.wait(carol.post("/v1/jobs", json=small_job(name="base")).json()["id"])
        child_spec = small_job(name="child", backbone={"model_id": base["model_id"]})
        child = carol.wait(carol.post("/v1/jobs", json=child_spec).json()["id"])
        assert child["status"] == "succeeded", child["error"]
        model_id = child["model_id"]
        headers = {"Authorization": carol.headers["Authorization"]}
        with httpx.Client(base_url=other.api_url, headers=headers, timeout=120) as elsewhere:
            image = [("files", ("a.png", _png(), "image/png"))]
            assert elsewhere.post(f"/v1/models/{model_id}/predict", files=image).status_code == 200
            usage = carol.get("/v1/usage").json()["models"]
            assert usage["count"] == 2 and usage["bytes"] > 0
            stored = f'reprogram_storage_objects{{kind="models",owner="{carol.owner_name}"}}'
            assert f"{stored} 2.0" in httpx.get(service.api_url + "/metrics").text

            error = _error(carol.delete(f"/v1/models/{base['model_id']}"), 409)
            assert error["code"] == "model_in_use" and model_id in error["message"]
            error = _error(carol.delete(f"/v1/jobs/{child['id']}"), 409)
            assert error["code"] == "job_has_model" and model_id in error["message"]

            assert carol.delete(f"/v1/models/{model_id}").status_code == 204
            _error(carol.post(f"/v1/models/{model_id}/predict", files=image), 404)
            deadline = time.monotonic() + 30  # the other process notices within its recheck
            while elsewhere.post(f"/v1/models/{model_id}/predict", files=image).status_code != 404:
                assert time.monotonic() < deadline, "the other API kept serving a deleted model"
                time.sleep(0.2)
        with session_scope(_url(service)) as session:
            blobs = select(func.count()).where(Blob.key.startswith(f"artifacts/{model_id}/"))
            assert session.scalar(blobs) == 0

        assert carol.delete(f"/v1/jobs/{child['id']}").status_code == 204
        _error(carol.get(f"/v1/jobs/{child['id']}"), 404)
        with session_scope(_url(service)) as session:
            events = select(func.count()).where(Event.job_id == child["id"])
            assert session.scalar(events) == 0
        assert carol.delete(f"/v1/models/{base['model_id']}").status_code == 204

        running = carol.post("/v1/jobs", json=small_job(**SLOW)).json()
        assert _error(carol.delete(f"/v1/jobs/{running['id']}"), 409)["code"] == "job_active"
        carol.post(f"/v1/jobs/{running['id']}/cancel")
        carol.wait(running["id"], timeout=120)
        assert carol.delete(f"/v1/jobs/{running['id']}").status_code == 204

        assert stored not in httpx.get(service.api_url + "/metrics").text
    finally:
        other.stop()
