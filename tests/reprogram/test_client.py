"""The SDK against the real running service (and a stand-in upstream for retry behaviour)."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos
from support.client import small_job
from support.http import Scripted, serving
from support.proxy import proxy_for
from support.services import free_port

from reprogram import Client, Credential, Delivery, Stored, Usage, Webhook, Worker
from reprogram.errors import (
    Conflict,
    ConnectionFailed,
    InvalidRequest,
    JobFailed,
    NotFound,
    Unauthorized,
)


@pytest.fixture(scope="module")
def sdk(service):  # type: ignore[no-untyped-def]
    with Client(service.api_url, service.create_key("sdk-user")) as client:
        yield client


def test_lifecycle(sdk: Client, tmp_path: Path) -> None:
    job = sdk.jobs.create(small_job(name="sdk"), idempotency_key="sdk-1")
    assert sdk.jobs.create(small_job(name="sdk"), idempotency_key="sdk-1").id == job.id
    seen = []
    done = job.wait(on_event=seen.append, timeout=300)
    assert done.status == "succeeded" and done.model_id
    assert [e.epoch for e in seen if e.type == "epoch"] == [1, 2, 3]
    assert [e.id for e in job.events()] == [e.id for e in seen]

    model = sdk.models.get(done.model_id)
    assert model.labels == [str(d) for d in range(10)] and "test_accuracy" in model.metrics
    path = tmp_path / "cat.png"
    Image.fromarray(photos.chelsea()).save(path)
    forms = [path, str(path), path.read_bytes(), Image.open(path), np.asarray(Image.open(path))]
    results = sdk.models.predict(model.id, forms, top_k=2)
    assert len(results) == len(forms) and all(len(r) == 2 for r in results)
    assert len({r[0].label for r in results}) == 1

    local = sdk.models.download(model.id, tmp_path / "artifact")
    assert (local / "manifest.json").exists() and (local / "model.safetensors").exists()
    exported = sdk.models.export(model.id, tmp_path / "model.pt", format="torchscript")
    assert exported.stat().st_size > 1_000_000 and exported.read_bytes()[:2] == b"PK"  # a zip


def test_list_iterates_every_page(sdk: Client) -> None:
    for i in range(3):
        sdk.jobs.create(small_job(name=f"page-{i}")).wait()
    ids = [job.id for job in sdk.jobs.list(page_size=2)]
    assert len(ids) == len(set(ids)) >= 4
    assert all(j.status == "succeeded" for j in sdk.jobs.list(status="succeeded"))


def test_typed_errors(sdk: Client, service) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        sdk.jobs.get("job_nope")
    with pytest.raises(InvalidRequest) as info:
        sdk.jobs.create(small_job(hyperparameters={"epochs": 0}))
    assert info.value.field == "hyperparameters.epochs"
    with pytest.raises(Unauthorized), Client(service.api_url, "rp_wrong") as stranger:
        stranger.jobs.get("job_nope")


def test_failed_job_raises_on_wait(sdk: Client) -> None:
    # valid as a spec, but the dataset has no class called 'zebra': the worker finds out
    job = sdk.jobs.create(small_job(dataset={"name": "digits", "classes": ["0", "zebra"]}))
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=300)
    assert info.value.job.status == "failed" and "zebra" in info.value.job.error


def test_retries_honour_retry_after_then_succeed() -> None:
    calls: list[str] = []

    class Flaky(Scripted):
        def do_GET(self) -> None:
            calls.append(self.path)
            if len(calls) <= 2:
                self.answer(503, b'{"error": {"code": "busy", "message": "try later"}}',
                            {"Retry-After": "0"})  # fmt: skip
            else:
                self.answer(200, b'{"id": "job_x", "status": "queued", "spec": {}}')

    with serving(Flaky) as url, Client(url, "k", backoff=0.01) as client:
        assert client.jobs.get("job_x").status == "queued"
    assert len(calls) == 3


def test_connection_errors_are_retried_then_raised() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "k", max_retries=2, backoff=0.01)
    with client, pytest.raises(ConnectionFailed):
        client.jobs.get("job_x")


def test_stream_resumes_after_a_dropped_connection(service) -> None:  # type: ignore[no-untyped-def]
    slow = small_job(name="dropped", method={"kind": "adversarial_program", "canvas_size": 32},
                     hyperparameters={"epochs": 6, "batch_size": 16})  # fmt: skip
    with proxy_for(service.api_url) as proxy, Client(proxy.url, service.create_key("dropper"),
                                          backoff=0.05) as sdk:  # fmt: skip
        job = sdk.jobs.create(slow)
        seen, cut_at = [], None
        for event in job.stream():
            seen.append(event)
            if event.type == "epoch" and cut_at is None:
                cut_at = proxy.connections
                proxy.drop()
        reconnected = proxy.connections > cut_at  # the stream itself opened a new connection
        assert reconnected
        assert [e.id for e in seen] == [e.id for e in job.events()]  # nothing lost or repeated
        assert [e.epoch for e in seen if e.type == "epoch"] == [1, 2, 3, 4, 5, 6]


def test_a_create_whose_answer_was_lost_is_retried_into_one_job(service) -> None:  # type: ignore[no-untyped-def]
    with proxy_for(service.api_url) as proxy, Client(proxy.url, service.create_key("lossy"),
                                          backoff=0.05) as sdk:  # fmt: skip
        proxy.swallow(1)  # the service creates the job, but its answer never arrives
        job = sdk.jobs.create(small_job(name="lost-answer"))
        assert proxy.connections == 2
        assert [j.id for j in sdk.jobs.list() if j.name == "lost-answer"] == [job.id]
        job.wait(timeout=300)


def test_an_upload_whose_answer_was_lost_is_not_resent(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for label in ("a", "b"):
        (tmp_path / "set" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(photos.camera()[::32, ::32]).save(tmp_path / "set" / label / f"{i}.png")
    with proxy_for(service.api_url) as proxy, Client(proxy.url, service.create_key("uploader"),
                                          backoff=0.05) as sdk:  # fmt: skip
        proxy.swallow(1)
        with pytest.raises(ConnectionFailed):
            sdk.datasets.upload(tmp_path / "set")
        assert proxy.connections == 1


def test_catalog(sdk: Client) -> None:
    backbones = {b.name: b for b in sdk.catalog.backbones()}
    assert backbones["efficientnet_lite0"].available_offline
    assert {"digits", "mnist_5k"} <= {d.name for d in sdk.catalog.datasets()}
    assert "linear_probe" in {m.name for m in sdk.catalog.methods()}


def _image_folder(root: Path, per_class: int = 5) -> Path:
    """A small two-class image folder whose bytes no other test uploads."""
    rng = np.random.default_rng()
    for label in ("left", "right"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def test_delete_what_is_stored_and_usage(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("deleter")
    with Client(service.api_url, key) as sdk:
        assert sdk.usage() == Usage(datasets=Stored(0, 0), models=Stored(0, 0))
        dataset = sdk.datasets.upload(_image_folder(tmp_path / "lr"))
        upload = {"upload_id": dataset.id, "image_size": 32, "val_fraction": 0.2}
        busy = sdk.jobs.create(small_job(
            dataset=upload, method={"kind": "adversarial_program", "canvas_size": 32},
            hyperparameters={"epochs": 200, "batch_size": 16}))  # fmt: skip
        with pytest.raises(Conflict) as info:
            sdk.datasets.delete(dataset.id)
        assert info.value.code == "dataset_in_use" and busy.id in info.value.message
        with pytest.raises(Conflict) as info:
            sdk.jobs.delete(busy.id)
        assert info.value.status == 409 and info.value.code == "job_active"
        busy.cancel().wait(timeout=120, raise_on_failure=False)

        job = sdk.jobs.create(small_job(name="to-delete")).wait(timeout=300)
        model = sdk.models.get(job.model_id)
        use = sdk.usage()
        assert use.datasets == Stored(1, dataset.size_bytes)
        assert use.models.count == 1 and use.models.bytes > 0
        with pytest.raises(Conflict) as info:
            sdk.jobs.delete(job.id)
        assert info.value.code == "job_has_model" and model.id in str(info.value)
        assert sdk.models.delete(model.id) is None
        with pytest.raises(NotFound):
            sdk.models.get(model.id)
        with pytest.raises(NotFound):  # a first attempt that finds nothing is an error
            sdk.models.delete(model.id)
        sdk.jobs.delete(job.id)
        sdk.datasets.delete(dataset.id)
        with pytest.raises(NotFound):
            sdk.datasets.get(dataset.id)

        # The service deletes the job but its answer is lost; the resend's 404 means done.
        with proxy_for(service.api_url) as proxy, Client(proxy.url, key, backoff=0.05) as lossy:
            proxy.swallow(1)
            lossy.jobs.delete(busy.id)
            assert proxy.connections == 2
        with pytest.raises(NotFound):
            sdk.jobs.get(busy.id)
        assert sdk.usage() == Usage(datasets=Stored(0, 0), models=Stored(0, 0))


def _scripted(statuses: list[int]) -> type[Scripted]:
    """A stand-in service that answers each request with the next status (an error body)."""

    class Deletes(Scripted):
        def do_DELETE(self) -> None:
            body = b'{"error": {"code": "not_found", "message": "no such job"}}'
            self.answer(statuses.pop(0), body, {"Retry-After": "0"})

    return Deletes


@pytest.mark.parametrize(
    ("statuses", "deleted"),
    [([404], False), ([504, 404], True), ([502, 503, 404], True), ([429, 404], False)],
)
def test_a_resent_delete_that_finds_nothing_succeeds_if_the_first_may_have_acted(
    statuses: list[int], deleted: bool
) -> None:
    with serving(_scripted(statuses)) as url, Client(url, "k", backoff=0.01) as client:
        if deleted:
            client.jobs.delete("job_x")
        else:
            with pytest.raises(NotFound):
                client.jobs.delete("job_x")
    assert statuses == []


SLOW = {"method": {"kind": "adversarial_program", "canvas_size": 32},
        "hyperparameters": {"epochs": 200, "batch_size": 16}}  # fmt: skip


def _until(sdk: Client, job_id: str, status: str, timeout: float = 120) -> None:
    """Poll a job until it has `status`."""
    deadline = time.monotonic() + timeout
    while (job := sdk.jobs.get(job_id)).status != status:
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(0.2)


def test_pause_and_resume_a_running_job(service) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("pauser")
    with Client(service.api_url, key) as sdk:
        job = sdk.jobs.create(small_job(name="sdk-pause", **SLOW))
        with contextlib.closing(job.stream()) as events:
            first = next(e for e in events if e.type == "epoch")
        # The service pauses the job but the answer is lost; the resend's 409 finds it pausing.
        with proxy_for(service.api_url) as proxy, Client(proxy.url, key, backoff=0.05) as lossy:
            proxy.swallow(1)
            pausing = lossy.jobs.pause(job.id)
            assert proxy.connections >= 2
        assert pausing.id == job.id and pausing.status in ("pausing", "paused")
        _until(sdk, job.id, "paused")
        paused = sdk.jobs.get(job.id)
        assert paused.epoch >= first.epoch and paused.waiting_reason is None
        with pytest.raises(Conflict) as info:
            paused.pause()
        assert info.value.code == "not_pausable"

        resumed = paused.resume()
        assert resumed.status in ("queued", "running")
        assert resumed.estimated_finish_at is None or isinstance(resumed.estimated_finish_at,
                                                                 datetime)  # fmt: skip
        with contextlib.closing(job.stream()) as events:  # it goes on where it stopped
            later = next(e for e in events if e.type == "epoch" and e.id > first.id
                         and e.epoch > paused.epoch)  # fmt: skip
        assert later.epoch == paused.epoch + 1
        with pytest.raises(Conflict) as info:
            sdk.jobs.resume(job.id)
        assert info.value.code == "not_paused"
        assert job.cancel().wait(timeout=120, raise_on_failure=False).status == "cancelled"


def test_workers_and_a_waiting_job(sdk: Client, service) -> None:  # type: ignore[no-untyped-def]
    workers = sdk.workers.list()
    assert workers and all(isinstance(w, Worker) for w in workers)
    ours = [w for w in workers if service.env["REPROGRAM_QUEUE"] in w.queues]
    assert ours and ours[0].kind in ("cpu", "cuda") and ours[0].memory_gb > 0
    assert ours[0].started_at and ours[0].jobs_per_hour >= 0

    # no live worker has that much memory: the job waits and says why
    huge = sdk.jobs.create(small_job(name="too-big", resources={"min_memory_gb": 100000}))
    assert huge.status == "queued" and "100000 GB" in (huge.waiting_reason or "")
    assert sdk.jobs.get(huge.id).waiting_reason == huge.waiting_reason
    assert huge.cancel().status == "cancelled"
    assert sdk.jobs.get(huge.id).waiting_reason is None


def test_webhooks(service) -> None:  # type: ignore[no-untyped-def]
    with Client(service.api_url, service.create_key("hooker")) as sdk:
        created = sdk.webhooks.create("http://127.0.0.1:9/hook", description="nowhere")
        assert (
            isinstance(created, Webhook) and created.secret and created.secret.startswith("whsec_")
        )
        assert created.enabled and created.description == "nowhere" and created.failures == 0
        got = sdk.webhooks.get(created.id)
        assert got.secret is None and got.url == created.url
        assert [w.id for w in sdk.webhooks.list()] == [created.id]
        assert sdk.webhooks.enable(created.id).enabled
        assert sdk.webhooks.deliveries(created.id) == []

        # a status change of this owner's job is announced to the endpoint
        job = sdk.jobs.create(small_job(name="hooked", resources={"min_memory_gb": 100000}))
        job.cancel()
        deliveries = sdk.webhooks.deliveries(created.id, limit=10)
        assert deliveries and all(isinstance(d, Delivery) for d in deliveries)
        cancelled = next(d for d in deliveries if d.type == "job.cancelled")
        assert cancelled.payload["data"]["job_id"] == job.id
        assert len(sdk.webhooks.deliveries(created.id, limit=1)) == 1

        with pytest.raises(InvalidRequest) as info:
            sdk.webhooks.create("ftp://example.com/hook")
        assert info.value.field == "url"
        assert sdk.webhooks.delete(created.id) is None
        with pytest.raises(NotFound):
            sdk.webhooks.get(created.id)
        assert sdk.webhooks.list() == []


def test_credentials_and_a_dataset_named_by_uri(service, store) -> None:  # type: ignore[no-untyped-def]
    secret = "sdk-secret-never-shown-8c1d"
    with (
        Client(service.api_url, service.create_key("keeper")) as sdk,
        Client(service.api_url, service.create_key("stranger")) as stranger,
    ):
        made = sdk.credentials.create("mine", access_key_id="SDKKEY0000000000AB12",
                                      secret_access_key=secret, endpoint_url=store.endpoint)  # fmt: skip
        assert isinstance(made, Credential) and made.id.startswith("cred_")
        assert (made.name, made.kind, made.access_key_hint) == ("mine", "s3", "…AB12")
        assert made.endpoint_url == store.endpoint and made.region is None
        assert made.created_at and made.last_used_at is None
        assert sdk.credentials.get(made.id) == made
        assert [c.id for c in sdk.credentials.list()] == [made.id]
        # another owner can neither see it nor name it
        assert stranger.credentials.list() == []
        with pytest.raises(NotFound):
            stranger.credentials.get(made.id)
        dataset = {"uri": store.uri, "credentials_id": made.id, "image_size": 32,
                   "val_fraction": 0.2}  # fmt: skip
        with pytest.raises(InvalidRequest) as info:
            stranger.jobs.create(small_job(dataset=dataset))
        assert info.value.code == "unknown_credential"
        with pytest.raises(InvalidRequest) as info:
            sdk.credentials.create("bad", access_key_id="K", secret_access_key="S",
                                   endpoint_url="ftp://example.com")  # fmt: skip
        assert info.value.field == "endpoint_url"
        # an object that is not there is refused at submission, naming the uri
        with pytest.raises(InvalidRequest) as info:
            sdk.jobs.create(small_job(dataset=dataset | {"uri": store.uri + ".gone"}))
        assert info.value.code == "unknown_dataset" and ".gone" in info.value.message

        job = sdk.jobs.create(small_job(name="by-uri", dataset=dataset)).wait(timeout=300)
        assert job.spec["dataset"]["uri"] == store.uri and job.model_id
        assert sorted(sdk.models.get(job.model_id).labels) == ["blue", "red"]
        assert sdk.credentials.get(made.id).last_used_at is not None
        assert secret not in str(sdk.jobs.get(job.id))

        # a job that still needs the keys keeps them from being deleted
        waiting = sdk.jobs.create(small_job(name="by-uri-waits", dataset=dataset,
                                            resources={"min_memory_gb": 100000}))  # fmt: skip
        with pytest.raises(Conflict) as conflict:
            sdk.credentials.delete(made.id)
        assert conflict.value.code == "credential_in_use" and waiting.id in conflict.value.message
        waiting.cancel()
        assert sdk.credentials.delete(made.id) is None
        with pytest.raises(NotFound):
            sdk.credentials.get(made.id)
        assert sdk.credentials.list() == []
