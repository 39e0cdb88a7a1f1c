"""The OpenAPI document is what the API does: schemathesis fuzzes every route against it.

All phases (examples, coverage, fuzzing, stateful links) and every conformance check run
against a real API process: any 5xx, undocumented status code, response that breaks its schema,
wrong Allow header or ignored auth fails the build. `scripts/fuzz-api` is the deep run.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.client import Api, small_job
from support.services import (
    Service,
    fresh_database,
    postgres_server,
    redis_server,
    service_env,
)

# Documented statuses are checked; whether a schema-valid request is also *semantically*
# valid (an archive that unzips, a model id that exists) is beyond what a schema can say.
EXCLUDED_CHECKS = "positive_data_acceptance"
# 70 examples an operation, over 40-odd operations, keep this run near two minutes on two
# cores; the bounds a fuzzer once found (a 64-bit overflow behind a real job id, issue #8) have
# tests of their own (test_bounds.py), and scripts/fuzz-api runs many more with a new seed.
EXAMPLES = int(os.environ.get("REPROGRAM_FUZZ_EXAMPLES", "70"))
SEED = int(os.environ.get("REPROGRAM_FUZZ_SEED", "20261129"))


def schemathesis_command(url: str, key: str, *, examples: int, seed: int) -> list[str]:
    """The schemathesis run this test and scripts/fuzz-api share."""
    return [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--phases", "examples,coverage,fuzzing,stateful",
        "--header", f"Authorization: Bearer {key}",
        "--max-examples", str(examples), "--seed", str(seed),
        "--request-timeout", "30", "--workers", "1", "--no-color",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Service]:
    """An API process of its own (no worker: the jobs fuzzing creates just wait in a queue)."""
    with postgres_server() as pg, fresh_database(pg) as url, redis_server() as redis:
        env = service_env(
            data_dir=data_dir, database_url=url, broker_url=redis, queue="fuzz",
            max_upload_bytes=2_000_000,
            stream_max_s=1,  # a queued job's live stream would otherwise never end
        )  # fmt: skip
        service = Service(env=env, data_dir=tmp_path_factory.mktemp("fuzz"))
        service.start_api()
        try:
            yield service
        finally:
            service.stop()


def _digits_zip() -> bytes:
    """A two-class image-folder archive of real handwritten digits."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(8):
            image = Image.fromarray((digits.images[index] * 15).astype("uint8")).resize((32, 32))
            png = io.BytesIO()
            image.save(png, format="PNG")
            archive.writestr(f"digits/{digits.target[index] % 2}/{index}.png", png.getvalue())
    return buffer.getvalue()


def _seed(service: Service, key: str) -> dict[str, list[str]]:
    """Real ids for the fuzzer to use beside random ones: jobs (queued, cancelled), a dataset."""
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"}) as api:
        jobs = [api.post("/v1/jobs", json=small_job()).json()["id"] for _ in range(2)]
        api.post(f"/v1/jobs/{jobs[1]}/cancel").raise_for_status()
        uploaded = api.post("/v1/datasets", files={"file": ("digits.zip", _digits_zip())})
        assert uploaded.status_code == 201, uploaded.text
    return {"job_id": jobs, "dataset_id": [uploaded.json()["id"]]}


def write_config(folder: Path, ids: dict[str, list[str]]) -> None:
    """schemathesis.toml: path parameters take a real id half the time."""
    lines = []
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    (folder / "schemathesis.toml").write_text("\n".join(lines) + "\n")


def test_every_route_conforms_to_the_openapi_document(api_only: Service, tmp_path: Path) -> None:
    key = api_only.create_key("fuzzer")
    write_config(tmp_path, _seed(api_only, key))
    run = subprocess.run(
        schemathesis_command(api_only.api_url, key, examples=EXAMPLES, seed=SEED),
        cwd=tmp_path,  # its caches and reports stay out of the tree
        capture_output=True,
        text=True,
        timeout=max(900, EXAMPLES * 6),
    )
    print(run.stdout[-3000:])  # the summary, for `scripts/fuzz-api` (pytest -s)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    assert "5xx" not in summary and "Undocumented status code" not in summary
    logs = "".join(p.read_text() for p in api_only.logs)
    assert "unhandled error" not in logs, logs[-4000:]
