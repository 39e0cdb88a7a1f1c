"""Uploaded datasets without a shared disk: stored once in the database, fetched by any worker."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import update
from support.client import small_job
from support.services import Service

from config.settings import Settings
from db.models import ObjectChunk, StoredObject
from db.session import session_scope


def _shapes_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
            for i in range(6):
                image = io.BytesIO()
                Image.new("RGB", (16 + i, 16), color).save(image, format="PNG")
                archive.writestr(f"shapes/{label}/{i}.png", image.getvalue())
    return buffer.getvalue()


def _cached(data_dir: Path, sha256: str) -> Path:
    return data_dir / "objects" / sha256[:2] / sha256


def test_workers_without_the_api_disk_train_on_an_upload(  # type: ignore[no-untyped-def]
    alice, service, tmp_path: Path
) -> None:
    queue = {"REPROGRAM_QUEUE": f"objects-{uuid.uuid4().hex[:8]}"}

    def deployment(name: str) -> Service:
        folder = tmp_path / name
        folder.mkdir()
        return Service(env=service.env | queue | {"REPROGRAM_DATA_DIR": str(folder)},
                       data_dir=folder)  # fmt: skip

    api, first, second = deployment("api"), deployment("w1"), deployment("w2")
    url = Settings(database_url=service.env["REPROGRAM_DATABASE_URL"]).sqlalchemy_url
    archive = _shapes_zip()
    digest = hashlib.sha256(archive).hexdigest()
    try:
        api.start_api()
        headers = {"Authorization": alice.headers["Authorization"]}
        with httpx.Client(base_url=api.api_url, headers=headers, timeout=120) as client:
            uploads = [client.post("/v1/datasets", files={"file": ("shapes.zip", archive)})
                       for _ in range(2)]  # fmt: skip
            assert [u.status_code for u in uploads] == [201, 201], uploads[0].text
            ids = [u.json()["id"] for u in uploads]
            # Stored once however often it is uploaded; the API keeps only its cache copy.
            with session_scope(url) as session:
                stored = session.get(StoredObject, f"sha256/{digest}")
                assert stored is not None and stored.size == len(archive)
            assert _cached(api.data_dir, digest).read_bytes() == archive
            assert not list((api.data_dir / "uploads").glob("*/archive"))

            spec = small_job(dataset={"upload_id": ids[0], "image_size": 32, "val_fraction": 0.2})
            for worker in (first, second):  # each in turn, so each must fetch it itself
                worker.start_worker()
                job = alice.wait(client.post("/v1/jobs", json=spec).json()["id"], timeout=300)
                assert job["status"] == "succeeded", job["error"]
                assert _cached(worker.data_dir, digest).read_bytes() == archive
                worker.stop()

            # A damaged object is refused by its hash, with a message that says so.
            _cached(second.data_dir, digest).unlink()
            with session_scope(url) as session:
                session.execute(
                    update(ObjectChunk)
                    .where(ObjectChunk.key == f"sha256/{digest}", ObjectChunk.seq == 0)
                    .values(data=b"\x00" + archive[1:])
                )
            second.start_worker()
            job = alice.wait(client.post("/v1/jobs", json=spec).json()["id"], timeout=300)
            assert job["status"] == "failed"
            assert "does not match its sha256" in job["error"], job["error"]
            assert not _cached(second.data_dir, digest).exists()
            with session_scope(url) as session:  # leave the object as it was for other tests
                session.execute(
                    update(ObjectChunk)
                    .where(ObjectChunk.key == f"sha256/{digest}", ObjectChunk.seq == 0)
                    .values(data=archive)
                )
    finally:
        for side in (api, first, second):
            side.stop()
