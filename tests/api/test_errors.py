"""Bad input gets a 4xx in one JSON shape that names the problem, and nothing is lost."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import httpx
import pytest
from PIL import Image
from support.client import small_job


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]


def _png(size: tuple[int, int] = (12, 12), color: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _good_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
            for i in range(6):
                archive.writestr(f"shapes/{label}/{i}.png", _png((16 + i, 16), color))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"hyperparameters": {"epochs": 0}}, "hyperparameters.epochs"),
        ({"method": {"kind": "distillation"}}, "method"),
        ({"dataset": {"name": "digits", "max_per_class": -1}}, "dataset.max_per_class"),
        ({"backbone": {}}, "backbone"),
    ],
)
def test_invalid_spec_is_422_naming_the_field(alice, patch: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    error = _error(alice.post("/v1/jobs", json=small_job(**patch)), 422)
    assert error["field"].startswith(field), error


def test_unknown_backbone_and_dataset_list_what_exists(alice) -> None:  # type: ignore[no-untyped-def]
    error = _error(alice.post("/v1/jobs", json=small_job(backbone={"name": "resnet9000"})), 422)
    assert error["field"] == "backbone.name" and "efficientnet_lite0" in error["message"]
    error = _error(alice.post("/v1/jobs", json=small_job(dataset={"name": "imagenet99"})), 422)
    assert error["field"] == "dataset.name" and "fashion_mnist" in error["message"]
    error = _error(alice.post("/v1/jobs", json=small_job(dataset={"upload_id": "ds_nope"})), 422)
    assert error["field"] == "dataset.upload_id"


def test_malformed_json_and_missing_auth(alice, service) -> None:  # type: ignore[no-untyped-def]
    bad = alice.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    _error(bad, 422)
    _error(httpx.get(service.api_url + "/v1/jobs"), 401)
    _error(httpx.get(service.api_url + "/v1/jobs", headers={"Authorization": "Bearer rp_x"}), 401)


def test_corrupt_image_is_422_and_the_model_keeps_serving(alice) -> None:  # type: ignore[no-untyped-def]
    model_id = alice.wait(alice.post("/v1/jobs", json=small_job()).json()["id"])["model_id"]
    error = _error(
        alice.post(f"/v1/models/{model_id}/predict",
                   files=[("files", ("x.png", b"\x89PNG\r\n\x1a\ngarbage", "image/png"))]),
        422,
    )  # fmt: skip
    assert error["code"] == "invalid_image" and "image 0" in error["message"]
    _error(alice.post(f"/v1/models/{model_id}/predict", json={"images": ["%%%"]}), 422)
    _error(alice.post(f"/v1/models/{model_id}/predict", json={"images": []}), 422)
    ok = alice.post(
        f"/v1/models/{model_id}/predict", files=[("files", ("a.png", _png(), "image/png"))]
    )
    assert ok.status_code == 200


def test_upload_a_dataset_and_train_on_it(alice) -> None:  # type: ignore[no-untyped-def]
    uploaded = alice.post(
        "/v1/datasets", files={"file": ("shapes.zip", _good_zip(), "application/zip")}
    )
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()
    assert dataset["classes"] == ["blue", "red"] and dataset["num_images"] == 12
    assert any(d["name"] == dataset["id"] for d in alice.get("/v1/datasets").json()["data"])
    spec = small_job(dataset={"upload_id": dataset["id"], "image_size": 32, "val_fraction": 0.2})
    job = alice.wait(alice.post("/v1/jobs", json=spec).json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert alice.get(f"/v1/models/{job['model_id']}").json()["labels"] == ["blue", "red"]


def test_hostile_archive_is_422_naming_the_rule(alice) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = _png()
        info = tarfile.TarInfo("../../escape.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    error = _error(alice.post("/v1/datasets", files={"file": ("evil.tgz", buffer.getvalue())}), 422)
    assert "path_traversal" in error["code"] and "escape.png" in error["message"]
    not_archive = _error(alice.post("/v1/datasets", files={"file": ("x.zip", b"hello")}), 422)
    assert "unsupported_format" in not_archive["code"]


def test_upload_over_the_cap_is_413(alice) -> None:  # type: ignore[no-untyped-def]
    huge = b"\0" * 2_500_000  # the test deployment caps uploads at 2,000,000 bytes
    _error(alice.post("/v1/datasets", files={"file": ("big.zip", huge)}), 413)

    def chunks():  # no Content-Length: the cap must hold on a streamed body too
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.zip"\r\n\r\n'
        for _ in range(30):
            yield b"\0" * 100_000
        yield b"\r\n--xyz--\r\n"

    streamed = alice.post(
        "/v1/datasets", content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )  # fmt: skip
    _error(streamed, 413)
    assert alice.get("/v1/jobs").status_code == 200  # still serving


def test_a_job_spec_over_the_json_cap_is_413(alice) -> None:  # type: ignore[no-untyped-def]
    spec = json.dumps(small_job(name="x" * 1_100_000)).encode()  # the cap is 1 MiB
    _error(alice.post("/v1/jobs", content=spec, headers={"Content-Type": "application/json"}), 413)

    def chunks():  # no Content-Length: counted as it streams in
        for start in range(0, len(spec), 65536):
            yield spec[start : start + 65536]

    streamed = alice.post(
        "/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert _error(streamed, 413)["code"] == "payload_too_large"
    assert alice.post("/v1/jobs", json=small_job(name="fits")).status_code == 201


def test_owners_cannot_see_or_touch_each_other(alice, bob) -> None:  # type: ignore[no-untyped-def]
    job = alice.wait(alice.post("/v1/jobs", json=small_job()).json()["id"])
    dataset = alice.post("/v1/datasets", files={"file": ("s.zip", _good_zip())}).json()
    model_id = job["model_id"]
    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/events",
                 f"/v1/jobs/{job['id']}/events/stream", f"/v1/models/{model_id}",
                 f"/v1/models/{model_id}/artifact", f"/v1/datasets/{dataset['id']}"):  # fmt: skip
        _error(bob.get(path), 404)
    _error(bob.post(f"/v1/jobs/{job['id']}/cancel"), 404)
    _error(bob.post(f"/v1/models/{model_id}/predict", files=[("files", ("a.png", _png()))]), 404)
    assert job["id"] not in [j["id"] for j in bob.get("/v1/jobs").json()["data"]]
    assert model_id not in [m["id"] for m in bob.get("/v1/models").json()["data"]]
    borrowed = small_job(backbone={"model_id": model_id})
    assert _error(bob.post("/v1/jobs", json=borrowed), 422)["field"] == "backbone.model_id"
    stolen = small_job(dataset={"upload_id": dataset["id"]})
    assert _error(bob.post("/v1/jobs", json=stolen), 422)["field"] == "dataset.upload_id"
    # and the same idempotency key means different jobs for different owners
    a = alice.post("/v1/jobs", json=small_job(), headers={"Idempotency-Key": "shared"}).json()
    b = bob.post("/v1/jobs", json=small_job(), headers={"Idempotency-Key": "shared"}).json()
    assert a["id"] != b["id"]
    alice.wait(a["id"]), bob.wait(b["id"])


def test_catalogs_say_what_is_usable_offline(alice) -> None:  # type: ignore[no-untyped-def]
    backbones = {b["name"]: b for b in alice.get("/v1/backbones").json()["data"]}
    assert backbones["efficientnet_lite0"]["available_offline"] is True
    datasets = {d["name"]: d for d in alice.get("/v1/datasets").json()["data"]}
    assert datasets["digits"]["available_offline"] is True and "cifar10" in datasets
    methods = [m["name"] for m in alice.get("/v1/methods").json()["data"]]
    assert methods == ["linear_probe", "adversarial_program", "finetune", "scratch"]


def test_local_only_fields_are_neither_advertised_nor_accepted(alice, service) -> None:  # type: ignore[no-untyped-def]
    # An artifact directory or a dataset path names the client's disk, which the service can't read.
    components = httpx.get(service.api_url + "/openapi.json").json()["components"]["schemas"]
    assert "artifact" not in components["BackboneSpec"]["properties"]
    assert "path" not in components["DatasetSpec"]["properties"]
    assert set(components["BackboneSpec"]["properties"]) == {"name", "weights", "model_id"}
    error = _error(alice.post("/v1/jobs", json=small_job(backbone={"artifact": "/models/m"})), 422)
    assert error["field"] == "backbone.artifact" and "model_id" in error["message"]
    error = _error(alice.post("/v1/jobs", json=small_job(dataset={"path": "/data/x.zip"})), 422)
    assert error["field"] == "dataset.path" and "upload_id" in error["message"]
    error = _error(alice.post("/v1/jobs", json=small_job(backbone={"name": "efficientnet_lite0",
                                                                     "model_id": "mdl_x"})), 422)  # fmt: skip
    assert error["field"] == "backbone" and "'name' or 'model_id'" in error["message"]


def test_openapi_documents_every_schema_with_examples(service) -> None:  # type: ignore[no-untyped-def]
    schema = httpx.get(service.api_url + "/openapi.json").json()
    components = schema["components"]["schemas"]
    for name in ("Job", "Event", "Model", "Dataset", "JobSpec", "PredictResponse", "Error"):
        assert name in components, name
    assert [name for name, body in components.items() if not body.get("examples")] == []
    assert "HTTPValidationError" not in components  # every 422 is documented as our Error
