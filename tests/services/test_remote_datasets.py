"""Datasets named by uri in an owner's S3-compatible store (a local moto server here): read with
that owner's keys only, by a worker with a data directory of its own, under the upload rules."""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from support.client import small_job
from support.datasets import escaping_zip, shapes_zip
from support.http import Scripted, serving
from support.s3 import s3_server
from support.services import Service

from config.settings import Settings
from services import remote_datasets
from services.credentials import Keys

ALICE_KEYS = {"access_key_id": "ALICEKEY0000000000", "secret_access_key": "alice-secret-5e1f"}


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[str]:
    """A moto endpoint whose bucket 'alice-data' holds a good archive and a hostile one."""
    with s3_server(tmp_path) as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="x",
                              aws_secret_access_key="x", region_name="us-east-1")  # fmt: skip
        client.create_bucket(Bucket="alice-data")
        client.put_object(Bucket="alice-data", Key="sets/shapes.zip", Body=shapes_zip())
        client.put_object(Bucket="alice-data", Key="sets/escaping.zip", Body=escaping_zip())
        yield endpoint


def test_a_job_trains_on_an_archive_in_the_owners_store(  # type: ignore[no-untyped-def]
    alice, bob, service, bucket: str, tmp_path: Path
) -> None:
    # The service's own keys and endpoint are in the environment: they must never be used.
    env = service.env | {
        "REPROGRAM_QUEUE": f"remote-{uuid.uuid4().hex[:8]}", "AWS_ACCESS_KEY_ID": "SERVICEKEY",
        "AWS_SECRET_ACCESS_KEY": "service-secret", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }  # fmt: skip
    api, worker = (Service(env=env | {"REPROGRAM_DATA_DIR": str(tmp_path / name)},
                           data_dir=tmp_path / name) for name in ("api", "worker"))  # fmt: skip
    for side in (api, worker):
        side.data_dir.mkdir()
    headers = {"Authorization": alice.headers["Authorization"]}
    try:
        api.start_api()
        with httpx.Client(base_url=api.api_url, headers=headers, timeout=120) as client:
            made = client.post("/v1/credentials", json={"name": "mine", "endpoint_url": bucket}
                                | ALICE_KEYS)  # fmt: skip
            assert made.status_code == 201, made.text
            cred = made.json()
            assert cred["access_key_hint"] == "…0000" and "secret" not in made.text
            listed = client.get("/v1/credentials").json()["data"]
            assert [c["id"] for c in listed if c["id"] == cred["id"]] == [cred["id"]]
            assert ALICE_KEYS["secret_access_key"] not in client.get("/v1/credentials").text

            def job(uri: str, credentials_id: str | None = cred["id"]) -> httpx.Response:
                dataset = {"uri": uri, "credentials_id": credentials_id, "image_size": 32,
                           "val_fraction": 0.2}  # fmt: skip
                body = small_job(dataset={k: v for k, v in dataset.items() if v is not None})
                return client.post("/v1/jobs", json=body)

            good = "s3://alice-data/sets/shapes.zip"
            refused = job(good, credentials_id=None).json()["error"]
            assert refused["field"] == "dataset.credentials_id", refused
            missing = job("s3://alice-data/sets/nothing.zip").json()["error"]
            assert missing["code"] == "unknown_dataset" and "nothing.zip" in missing["message"]
            # Another owner can neither see Alice's credential nor read with it.
            assert bob.get(f"/v1/credentials/{cred['id']}").status_code == 404
            taken = bob.post("/v1/jobs", json=small_job(dataset={"uri": good,
                             "credentials_id": cred["id"]})).json()["error"]  # fmt: skip
            assert taken["code"] == "unknown_credential", taken

            # No worker yet: the job waits, and the credential it needs cannot be deleted.
            first = job(good)
            assert first.status_code == 201, first.text
            blocked = client.delete(f"/v1/credentials/{cred['id']}")
            assert blocked.status_code == 409 and first.json()["id"] in blocked.text
            worker.start_worker()
            done = alice.wait(first.json()["id"], timeout=300)
            assert done["status"] == "succeeded", done["error"]
            assert done["spec"]["dataset"]["uri"] == good
            assert ALICE_KEYS["secret_access_key"] not in str(done)
            copies = list((worker.data_dir / "remote").iterdir())
            assert len(copies) == 1 and zipfile.is_zipfile(copies[0])  # its own copy
            assert not (api.data_dir / "remote").exists()  # the API never downloaded it

            hostile = alice.wait(job("s3://alice-data/sets/escaping.zip").json()["id"], timeout=300)
            assert hostile["status"] == "failed"
            assert "escaped.png" in hostile["error"], hostile["error"]
            assert client.get(f"/v1/credentials/{cred['id']}").json()["last_used_at"]
            assert client.delete(f"/v1/credentials/{cred['id']}").status_code == 204
    finally:
        for side in (api, worker):
            side.stop()


def test_only_the_named_keys_reach_the_store(  # type: ignore[no-untyped-def]
    monkeypatch, tmp_path: Path
) -> None:
    """Every request to the owner's endpoint is signed with the owner's key id, whatever the
    process's own AWS_* variables say; the secret never shows in the keys' repr."""
    archive, seen = shapes_zip(), []

    class Store(Scripted):
        def do_HEAD(self) -> None:
            seen.append(self.headers.get("authorization", ""))
            self.send_response(200)
            self.send_header("Content-Length", str(len(archive)))
            self.send_header("ETag", '"v1"')
            self.end_headers()

        def do_GET(self) -> None:
            seen.append(self.headers.get("authorization", ""))
            self.answer(200, archive, {"ETag": '"v1"'})

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "SERVICEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "service-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with serving(Store) as endpoint:
        keys = Keys(credential_id="cred_x", endpoint_url=endpoint, region=None, **ALICE_KEYS)
        settings = Settings(data_dir=tmp_path)
        path = remote_datasets.fetch(settings, keys=keys, uri="s3://b-1/data/shapes.zip")
        again = remote_datasets.fetch(settings, keys=keys, uri="s3://b-1/data/shapes.zip")
    assert path == again and path.read_bytes() == archive
    assert len(seen) == 3  # look, download, look (the second fetch reads its cache)
    assert all("Credential=ALICEKEY0000000000/" in header for header in seen), seen
    assert "alice-secret" not in repr(keys)
