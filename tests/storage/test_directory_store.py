"""The directory artifact store in a running service: a worker writes, another machine reads."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import select
from support.client import small_job
from support.services import Service

from config.settings import Settings
from db.models import Blob
from db.session import session_scope


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (28, 28), (250, 250, 250)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_model_lives_in_the_directory_store_and_serves_from_it(  # type: ignore[no-untyped-def]
    alice, service, tmp_path: Path
) -> None:
    # A worker and an API with data directories of their own: only the store is shared.
    store = tmp_path / "store"
    shared = {"REPROGRAM_QUEUE": f"dirstore-{uuid.uuid4().hex[:8]}",
              "REPROGRAM_ARTIFACT_STORE": "directory", "REPROGRAM_ARTIFACT_DIR": str(store)}  # fmt: skip
    worker = Service(env=service.env | shared | {"REPROGRAM_DATA_DIR": str(tmp_path / "w")},
                     data_dir=tmp_path / "w")  # fmt: skip
    api = Service(env=service.env | shared | {"REPROGRAM_DATA_DIR": str(tmp_path / "a")},
                  data_dir=tmp_path / "a")  # fmt: skip
    for side in (worker, api):
        side.data_dir.mkdir()
    try:
        worker.start_worker()
        api.start_api()
        headers = {"Authorization": alice.headers["Authorization"]}
        with httpx.Client(base_url=api.api_url, headers=headers, timeout=120) as client:
            job = client.post("/v1/jobs", json=small_job(name="in-a-directory")).json()
            done = alice.wait(job["id"], timeout=300)
            assert done["status"] == "succeeded", done
            model_id = done["model_id"]

            # The bytes are files in the store, and nothing of them is in the database.
            weights = [p for p in store.rglob("model.safetensors") if model_id in str(p)]
            assert len(weights) == 1
            url = Settings(database_url=service.env["REPROGRAM_DATABASE_URL"]).sqlalchemy_url
            with session_scope(url) as session:
                keys = session.scalars(select(Blob.key).where(Blob.key.contains(model_id)))
                assert list(keys) == []

            # The API, which never saw the worker's disk, serves the artifact and the model.
            artifact = client.get(f"/v1/models/{model_id}/artifact")
            assert artifact.status_code == 200
            with zipfile.ZipFile(io.BytesIO(artifact.content)) as archive:
                assert archive.read(f"{model_id}/model.safetensors") == weights[0].read_bytes()
            answer = client.post(
                f"/v1/models/{model_id}/predict", files=[("files", ("a.png", _png(), "image/png"))]
            )
            assert answer.status_code == 200, answer.text
            labels = set(client.get(f"/v1/models/{model_id}").json()["labels"])
            top = answer.json()["predictions"][0]["top_k"]
            assert top[0]["label"] in labels and 0 < top[0]["score"] <= 1
    finally:
        api.stop()
        worker.stop()
