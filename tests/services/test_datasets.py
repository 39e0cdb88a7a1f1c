"""Uploaded datasets without a shared disk: stored once in the database, fetched by any worker."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from support.client import small_job
from support.datasets import shapes_zip
from support.s3 import CREDENTIALS, make_bucket, s3_server
from support.services import Service

from config.settings import Settings
from db.models import ObjectChunk, StoredObject
from db.session import session_scope


def _cached(data_dir: Path, sha256: str) -> Path:
    return data_dir / "objects" / sha256[:2] / sha256


@pytest.fixture(params=["database", "s3"])
def store(request, tmp_path: Path) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The environment that picks where uploads are stored: the database, or a local S3 server."""
    if request.param == "database":
        yield {}
        return
    with s3_server(tmp_path) as endpoint:
        make_bucket(endpoint, "uploads")
        yield CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint,
                             "REPROGRAM_STORAGE_URL": "s3://uploads/datasets"}  # fmt: skip


def _overwrite(url: str, store: dict[str, str], key: str, data: bytes) -> None:
    """Replace the stored object's bytes where they live (a one-chunk object)."""
    if not store:
        with session_scope(url) as session:
            session.execute(update(ObjectChunk).where(ObjectChunk.key == key,
                            ObjectChunk.seq == 0).values(data=data))  # fmt: skip
        return
    import boto3

    client = boto3.client("s3", endpoint_url=store["AWS_ENDPOINT_URL"], aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")  # fmt: skip
    client.put_object(Bucket="uploads", Key=f"datasets/{key}", Body=data)


def test_workers_without_the_api_disk_train_on_an_upload(  # type: ignore[no-untyped-def]
    alice, service, store, tmp_path: Path
) -> None:
    queue = {"REPROGRAM_QUEUE": f"objects-{uuid.uuid4().hex[:8]}"} | store

    def deployment(name: str) -> Service:
        folder = tmp_path / name
        folder.mkdir()
        return Service(env=service.env | queue | {"REPROGRAM_DATA_DIR": str(folder)},
                       data_dir=folder)  # fmt: skip

    api, first, second = deployment("api"), deployment("w1"), deployment("w2")
    url = Settings(database_url=service.env["REPROGRAM_DATABASE_URL"]).sqlalchemy_url
    archive = shapes_zip()
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
            _overwrite(url, store, f"sha256/{digest}", b"\x00" + archive[1:])
            second.start_worker()
            job = alice.wait(client.post("/v1/jobs", json=spec).json()["id"], timeout=300)
            assert job["status"] == "failed"
            assert "does not match its sha256" in job["error"], job["error"]
            assert not _cached(second.data_dir, digest).exists()
            _overwrite(url, store, f"sha256/{digest}", archive)  # as it was
    finally:
        for side in (api, first, second):
            side.stop()
