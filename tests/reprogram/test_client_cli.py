"""The client commands (`reprogram jobs | models | datasets`) against the real running service."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos
from support.client import small_job
from support.exported import onnx_metadata
from support.services import free_port

from reprogram.cli import main
from reprogram.commands.credentials import SECRET_ENV
from reprogram.commands.exits import Exit

REPROGRAM = str(Path(sys.executable).with_name("reprogram"))  # the installed entry point


@pytest.fixture(scope="module")
def key(service) -> str:  # type: ignore[no-untyped-def]
    return service.create_key("cli-user")


@pytest.fixture
def cli(service, key: str, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `reprogram --url ... --api-key ... ARGS` in this process: (exit code, stdout, stderr)."""

    def run(*args: str, api_key: str = key, stdin: str = "") -> tuple[int, str, str]:
        capsys.readouterr()
        saved, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            code = main(["--url", service.api_url, "--api-key", api_key, *args])
        finally:
            sys.stdin = saved
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def reprogram(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real `reprogram` command in a process of its own."""
    return subprocess.run(
        [REPROGRAM, *args], capture_output=True, text=True, input=stdin, timeout=300,
        env=dict(os.environ, **(env or {})),
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(service, key: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A job created from stdin and watched to success by the real command, URL and key from
    the environment: stdout is exactly one JSON document, the finished job."""
    env = {"REPROGRAM_URL": service.api_url, "REPROGRAM_API_KEY": key}
    done = reprogram("jobs", "create", "-", "--watch", "--json", "--idempotency-key", "cli-1",
                     env=env, stdin=json.dumps(small_job(name="cli-json")))  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded" and job["model_id"]
    assert "Traceback" not in done.stderr
    return job


def test_create_watch_prints_the_epoch_table(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(small_job(name="cli-watch")))
    code, out, err = cli("jobs", "create", str(spec), "--watch")
    assert code == Exit.OK, err
    lines = out.splitlines()
    header = next(line for line in lines if "train loss" in line)
    assert header.split() == ["epoch", "train", "loss", "train", "acc", "val", "loss", "val",
                              "acc", "seconds"]  # fmt: skip
    rows = [line.split() for line in lines if line.strip().split(" ")[0] in ("1/3", "2/3", "3/3")]
    assert [r[0] for r in rows] == ["1/3", "2/3", "3/3"]
    assert all(0.0 <= float(r[2]) <= 1.0 and 0.0 <= float(r[4]) <= 1.0 for r in rows)
    assert "succeeded" in lines[-1] and "test accuracy" in lines[-1] and "mdl_" in lines[-1]
    assert "Traceback" not in err


def test_jobs_list_and_get(cli, trained: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("jobs", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and trained["id"] in [j["id"] for j in listed["data"]]
    code, out, _ = cli("jobs", "list", "--status", "succeeded", "--json")
    assert code == 0 and {j["status"] for j in json.loads(out)["data"]} == {"succeeded"}

    code, out, _ = cli("jobs", "get", trained["id"], "--json")
    job = json.loads(out)
    assert code == 0 and job["id"] == trained["id"] and job["model_id"] == trained["model_id"]
    assert job["spec"]["dataset"]["name"] == "digits" and "test_accuracy" in job["metrics"]

    # the same Idempotency-Key gives back the same job
    again = json.dumps(small_job(name="cli-json"))
    code, out, _ = cli("jobs", "create", "-", "--idempotency-key", "cli-1", "--json", stdin=again)
    assert code == 0 and json.loads(out)["id"] == trained["id"]

    code, out, _ = cli("jobs", "list")  # an aligned table
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["ID", "STATUS", "BACKBONE", "DATASET", "METHOD"]
    assert "BEST VAL ACC" in lines[0] and "CREATED" in lines[0]
    row = next(line for line in lines if line.startswith(trained["id"]))
    assert row.index("succeeded") == lines[0].index("STATUS")
    assert "efficientnet_lite0" in row and "digits" in row and "linear_probe" in row

    code, out, _ = cli("jobs", "get", trained["id"])
    fields = dict(line.split(None, 1) for line in out.splitlines() if line.startswith(("id", "st")))
    assert fields["status"] == "succeeded" and fields["id"] == trained["id"]
    assert f"model            {trained['model_id']}" in out


def test_models_list_get_and_predict(cli, trained: dict[str, Any], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model_id = trained["model_id"]
    code, out, _ = cli("models", "list", "--json")
    assert code == 0 and model_id in [m["id"] for m in json.loads(out)["data"]]
    code, out, _ = cli("models", "list")
    assert out.splitlines()[0].startswith("ID") and model_id in out
    code, out, _ = cli("models", "get", model_id)
    assert code == 0 and "labels (10)" in out and "test accuracy" in out

    cat, coffee = tmp_path / "chelsea.png", tmp_path / "coffee.png"
    Image.fromarray(photos.chelsea()).save(cat)
    Image.fromarray(photos.coffee()).save(coffee)
    code, out, err = cli("models", "predict", model_id, str(cat), str(coffee), "--top-k", "3",
                         "--json")  # fmt: skip
    assert code == 0, err
    predictions = json.loads(out)["predictions"]
    assert [p["image"] for p in predictions] == [str(cat), str(coffee)]
    for p in predictions:
        labels = [s["label"] for s in p["top_k"]]
        assert len(labels) == 3 and set(labels) <= {str(d) for d in range(10)}
        assert p["top_k"][0]["score"] >= p["top_k"][-1]["score"]
    code, out, _ = cli("models", "predict", model_id, str(cat))
    assert code == 0 and out.startswith(str(cat)) and out.count("%") == 5

    code, _, err = cli("models", "predict", model_id, str(tmp_path / "none.png"))
    assert code == Exit.USAGE and "none.png" in err

    code, out, err = cli("models", "export", model_id, "-o", str(tmp_path / "m.onnx"), "--json")
    assert code == 0, err
    assert json.loads(out)["path"] == str(tmp_path / "m.onnx")
    labels, _ = onnx_metadata(tmp_path / "m.onnx")
    assert labels == [str(d) for d in range(10)]


def test_failed_job_exits_1_with_the_reason(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # valid as a spec, but digits has no class 'zebra': the worker finds out
    spec = tmp_path / "zebra.json"
    spec.write_text(json.dumps(small_job(dataset={"name": "digits", "classes": ["0", "zebra"]})))
    code, _, err = cli("jobs", "create", str(spec), "--watch")
    assert code == Exit.JOB_FAILED == 1
    assert err.strip().splitlines()[-1].startswith("error: job ") and "zebra" in err


def test_cancel_then_watch_exits_3(cli) -> None:  # type: ignore[no-untyped-def]
    long = small_job(name="cli-cancel", hyperparameters={"epochs": 1000, "batch_size": 32})
    code, out, err = cli("jobs", "create", "-", "--json", stdin=json.dumps(long))
    assert code == 0, err
    job = json.loads(out)
    code, out, _ = cli("jobs", "cancel", job["id"])
    assert code == 0 and job["id"] in out and ("cancelling" in out or "cancelled" in out)
    code, out, err = cli("jobs", "watch", job["id"], "--json")
    assert code == Exit.JOB_CANCELLED == 3, err
    assert json.loads(out)["status"] == "cancelled"
    code, _, err = cli("jobs", "cancel", job["id"])  # already finished: 409
    assert code == Exit.REJECTED and "already cancelled" in err


def test_upload_an_image_folder(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    folder = tmp_path / "shapes"
    for name in ("circles", "squares"):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")
    code, out, err = cli("datasets", "upload", str(folder), "--json")
    assert code == 0, err
    dataset = json.loads(out)
    assert dataset["classes"] == ["circles", "squares"] and dataset["num_images"] == 6
    code, out, _ = cli("datasets", "get", dataset["id"])
    assert code == 0 and "circles, squares" in out and dataset["id"] in out

    code, _, err = cli("datasets", "upload", str(tmp_path / "missing"))
    assert code == Exit.USAGE and "missing" in err


def test_errors_have_their_own_exit_codes(cli, service) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("jobs", "get", "job_nope")
    assert (code, out) == (Exit.NOT_FOUND, "") and err.startswith("error: ") and "job_nope" in err
    assert len(err.strip().splitlines()) == 1

    code, _, err = cli("jobs", "list", api_key="rp_wrong")
    assert code == Exit.UNAUTHORIZED and err.startswith("error: ")

    bad = json.dumps(small_job(hyperparameters={"epochs": 0}))
    code, out, err = cli("jobs", "create", "-", stdin=bad)
    assert code == Exit.REJECTED and "hyperparameters.epochs" in err and out == ""

    with pytest.raises(SystemExit) as usage:
        main(["jobs", "list", "--status", "bogus"])
    assert usage.value.code == Exit.USAGE


def test_exit_codes_and_pure_json_of_the_real_command(service, key: str) -> None:  # type: ignore[no-untyped-def]
    unreachable = reprogram("jobs", "list", "--json", "--url", f"http://127.0.0.1:{free_port()}",
                            "--retries", "0")  # fmt: skip
    assert unreachable.returncode == Exit.CONNECTION == 8
    assert unreachable.stdout == "" and unreachable.stderr.startswith("error: cannot reach")
    assert "Traceback" not in unreachable.stderr

    env = {"REPROGRAM_URL": service.api_url, "REPROGRAM_API_KEY": key}
    missing = reprogram("models", "get", "mdl_nope", "--json", env=env)
    assert missing.returncode == Exit.NOT_FOUND and missing.stdout == ""
    wrong = reprogram("jobs", "list", "--api-key", "rp_wrong", env=env)
    assert wrong.returncode == Exit.UNAUTHORIZED and "Traceback" not in wrong.stderr
    usage = reprogram("jobs", "frobnicate", env=env)
    assert usage.returncode == Exit.USAGE

    listed = reprogram("jobs", "list", "--json", env=env)
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout)["data"], list)

    helped = reprogram("--help")
    assert "exit codes" in helped.stdout and "could not connect" in helped.stdout


def test_the_commands_never_import_torch(service, key: str) -> None:  # type: ignore[no-untyped-def]
    script = (
        "import sys\n"
        "import reprogram.commands.parsers\n"
        "from reprogram.cli import main\n"
        f"code = main(['--url', {service.api_url!r}, '--api-key', {key!r}, 'jobs', 'list'])\n"
        "code = code or main(['models', 'list', '--json'])\n"
        "heavy = sorted({'torch', 'torchvision', 'numpy', 'PIL'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, REPROGRAM_URL=service.api_url, REPROGRAM_API_KEY=key)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_catalog(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("catalog", "backbones", "--json")
    assert code == Exit.OK
    backbones = {b["name"]: b for b in json.loads(out)["data"]}
    assert backbones["efficientnet_lite0"]["available_offline"] is True
    code, out, _ = cli("catalog", "methods")
    assert code == Exit.OK and out.splitlines()[0].split() == [
        "NAME",
        "OFFLINE",
        "INPUT",
        "DESCRIPTION",
    ]
    assert "linear_probe" in out and "adversarial_program" in out


def test_delete_and_usage(cli, service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("cli-deleter")
    code, out, err = cli("usage", "--json", api_key=key)
    assert code == Exit.OK, err
    assert json.loads(out) == {"datasets": {"count": 0, "bytes": 0},
                               "models": {"count": 0, "bytes": 0}}  # fmt: skip

    code, out, err = cli("jobs", "create", "-", "--watch", "--json", api_key=key,
                         stdin=json.dumps(small_job(name="cli-delete")))  # fmt: skip
    assert code == Exit.OK, err
    job = json.loads(out)
    code, out, err = cli("usage", api_key=key)
    assert code == Exit.OK and out.splitlines()[0].split() == ["KIND", "COUNT", "SIZE"]
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["datasets"] == ["0", "0", "B"] and rows["models"][0] == "1"

    code, out, err = cli("jobs", "delete", job["id"], api_key=key)  # its model comes first
    assert (code, out) == (Exit.REJECTED, "") and err.startswith("error: ")
    assert job["model_id"] in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("models", "delete", job["model_id"], "--json", api_key=key)
    assert code == Exit.OK, err
    assert json.loads(out) == {"id": job["model_id"], "object": "model", "deleted": True}
    code, out, _ = cli("jobs", "delete", job["id"], api_key=key)
    assert code == Exit.OK and out == f"deleted job {job['id']}\n"
    code, out, err = cli("jobs", "delete", job["id"], api_key=key)
    assert (code, out) == (Exit.NOT_FOUND, "") and job["id"] in err

    folder = tmp_path / "set"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        Image.fromarray(photos.camera()[::32, ::32]).save(folder / label / "0.png")
    code, out, err = cli("datasets", "upload", str(folder), "--json", api_key=key)
    assert code == Exit.OK, err
    dataset = json.loads(out)
    code, out, _ = cli("datasets", "delete", dataset["id"], api_key=key)
    assert code == Exit.OK and out == f"deleted dataset {dataset['id']}\n"
    code, out, _ = cli("usage", "--json", api_key=key)
    assert json.loads(out)["models"] == json.loads(out)["datasets"] == {"count": 0, "bytes": 0}


def test_pause_resume_and_why_a_job_waits(cli, service) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("cli-pauser")
    huge = json.dumps(small_job(name="cli-waits", resources={"min_memory_gb": 100000}))
    code, out, err = cli("jobs", "create", "-", "--json", api_key=key, stdin=huge)
    assert code == Exit.OK, err
    job_id = json.loads(out)["id"]

    code, out, _ = cli("jobs", "get", job_id, api_key=key)
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert code == Exit.OK and fields["status"] == "queued"
    assert "no live worker" in fields["waiting"] and "100000 GB" in fields["waiting"]
    code, out, err = cli("jobs", "list", api_key=key)
    row = next(line for line in out.splitlines() if line.startswith(job_id))
    assert "queued (waiting)" in row and f"{job_id} waits: no live worker" in err

    code, out, _ = cli("jobs", "pause", job_id, api_key=key)  # queued: paused at once
    assert (code, out) == (Exit.OK, f"job {job_id} paused\n")
    code, out, err = cli("jobs", "pause", job_id, api_key=key)
    assert (code, out) == (Exit.REJECTED, "") and "paused" in err and err.startswith("error: ")
    code, out, _ = cli("jobs", "get", job_id, api_key=key)
    assert "waiting" not in out and "paused" in out

    code, out, err = cli("jobs", "resume", job_id, "--json", api_key=key)
    assert code == Exit.OK, err
    resumed = json.loads(out)
    assert resumed["status"] == "queued" and "100000 GB" in resumed["waiting_reason"]
    code, out, err = cli("jobs", "resume", job_id, api_key=key)
    assert (code, out) == (Exit.REJECTED, "") and "not paused" in err
    code, _, err = cli("jobs", "pause", "job_nope", api_key=key)
    assert code == Exit.NOT_FOUND and "job_nope" in err
    assert cli("jobs", "cancel", job_id, api_key=key)[0] == Exit.OK


def test_workers(cli, service) -> None:  # type: ignore[no-untyped-def]
    queue = service.env["REPROGRAM_QUEUE"]
    code, out, err = cli("workers")
    assert code == Exit.OK, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "DEVICE", "MEM", "QUEUES", "BUSY", "JOBS", "JOBS/H"]
    row = next(line for line in lines if f"{queue},{queue}-" in line)
    assert row[lines[0].index("MEM") :].split()[1] == "GB"
    code, out, _ = cli("workers", "--json")
    listed = json.loads(out)
    assert code == Exit.OK and listed["has_more"] is False
    ours = next(w for w in listed["data"] if queue in w["queues"])
    assert set(ours) >= {"id", "kind", "device", "memory_gb", "busy", "jobs_done", "jobs_per_hour"}


def test_webhooks(cli, service) -> None:  # type: ignore[no-untyped-def]
    key = service.create_key("cli-hooker")
    code, out, err = cli("webhooks", "create", "http://127.0.0.1:9/hook", "--description",
                         "nowhere", api_key=key)  # fmt: skip
    assert code == Exit.OK, err
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["secret"].startswith("whsec_") and fields["url"] == "http://127.0.0.1:9/hook"
    assert "shown only this once" in err and fields["description"] == "nowhere"
    hook_id = fields["id"]
    code, out, _ = cli("webhooks", "create", "https://example.com/hook", "--json", api_key=key)
    other = json.loads(out)
    assert code == Exit.OK and other["secret"].startswith("whsec_") and other["enabled"] is True

    code, out, _ = cli("webhooks", "list", api_key=key)
    lines = out.splitlines()
    assert code == Exit.OK and lines[0].split()[:4] == ["ID", "URL", "ENABLED", "FAILURES"]
    assert {line.split()[0] for line in lines[1:]} == {hook_id, other["id"]}
    code, out, _ = cli("webhooks", "get", hook_id, api_key=key)
    assert code == Exit.OK and "secret" not in out and "enabled" in out and hook_id in out
    code, out, _ = cli("webhooks", "enable", hook_id, api_key=key)
    assert (code, out) == (Exit.OK, f"enabled webhook {hook_id}\n")
    code, out, err = cli("webhooks", "deliveries", hook_id, api_key=key)
    assert (code, out) == (Exit.OK, "") and "no deliveries" in err
    code, out, _ = cli("webhooks", "deliveries", hook_id, "--json", api_key=key)
    assert json.loads(out) == {"data": [], "has_more": False}

    job = json.dumps(small_job(name="cli-hooked", resources={"min_memory_gb": 100000}))
    job_id = json.loads(cli("jobs", "create", "-", "--json", api_key=key, stdin=job)[1])["id"]
    cli("jobs", "cancel", job_id, api_key=key)
    code, out, _ = cli("webhooks", "deliveries", hook_id, "--limit", "1", "--json", api_key=key)
    shown = json.loads(out)
    assert code == Exit.OK and len(shown["data"]) == 1 and shown["has_more"] is True
    assert shown["data"][0]["type"] == "job.cancelled"
    code, out, _ = cli("webhooks", "deliveries", hook_id, api_key=key)
    assert out.splitlines()[0].split()[:3] == ["ID", "TYPE", "STATUS"] and "job.cancelled" in out

    code, out, err = cli("webhooks", "create", "ftp://example.com/hook", api_key=key)
    assert (code, out) == (Exit.REJECTED, "") and "url" in err
    code, out, _ = cli("webhooks", "delete", hook_id, "--json", api_key=key)
    assert json.loads(out) == {"id": hook_id, "object": "webhook", "deleted": True}
    code, out, _ = cli("webhooks", "delete", other["id"], api_key=key)
    assert (code, out) == (Exit.OK, f"deleted webhook {other['id']}\n")
    code, _, err = cli("webhooks", "get", hook_id, api_key=key)
    assert code == Exit.NOT_FOUND and hook_id in err


def test_credentials(cli, service, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key, secret = service.create_key("cli-keeper"), "cli-secret-never-shown-41f0"
    monkeypatch.delenv(SECRET_ENV, raising=False)
    create = ("credentials", "create", "--access-key-id", "CLIKEY00000000007Q3X")
    code, out, err = cli(*create, "mine", "--endpoint-url", store.endpoint, "--secret-stdin",
                         api_key=key, stdin=secret + "\n")  # fmt: skip
    assert code == Exit.OK, err
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    assert fields["access key"] == "…7Q3X" and fields["endpoint"] == store.endpoint
    assert fields["name"] == "mine" and fields["last used"] == "never"
    assert f'"credentials_id": "{fields["id"]}"' in err and secret not in out + err
    cred_id = fields["id"]

    # the secret from the environment; never from an argument, nor from nowhere
    monkeypatch.setenv(SECRET_ENV, "another-secret")
    code, out, _ = cli(*create, "from-env", "--region", "eu-west-1", "--json", api_key=key)
    other = json.loads(out)
    assert code == Exit.OK and other["region"] == "eu-west-1" and other["endpoint_url"] is None
    assert "secret" not in json.dumps(other)
    monkeypatch.delenv(SECRET_ENV)
    code, out, err = cli(*create, "nothing", api_key=key)
    assert (code, out) == (Exit.USAGE, "") and "--secret-stdin" in err and SECRET_ENV in err
    code, _, err = cli(*create, "empty", "--secret-stdin", api_key=key, stdin="\n")
    assert code == Exit.USAGE and "empty" in err

    code, out, _ = cli("credentials", "list", api_key=key)
    lines = out.splitlines()
    assert code == Exit.OK and lines[0].split()[:4] == ["ID", "NAME", "KEY", "ENDPOINT"]
    assert [line.split()[0] for line in lines[1:]] == [cred_id, other["id"]]
    code, out, _ = cli("credentials", "get", cred_id, "--json", api_key=key)
    assert code == Exit.OK and json.loads(out)["access_key_hint"] == "…7Q3X"

    # a job names the archive by uri; while it waits, its credential cannot be deleted
    dataset = {"uri": store.uri, "credentials_id": cred_id, "image_size": 32}
    spec = small_job(name="cli-uri", dataset=dataset, resources={"min_memory_gb": 100000})
    code, out, err = cli("jobs", "create", "-", "--json", api_key=key, stdin=json.dumps(spec))
    assert code == Exit.OK, err
    job_id = json.loads(out)["id"]
    code, out, _ = cli("jobs", "get", job_id, api_key=key)
    assert re.search(rf"^dataset +{re.escape(store.uri)}$", out, re.MULTILINE), out
    code, out, err = cli("credentials", "delete", cred_id, api_key=key)
    assert (code, out) == (Exit.REJECTED, "") and job_id in err
    cli("jobs", "cancel", job_id, api_key=key)
    code, out, _ = cli("credentials", "delete", cred_id, "--json", api_key=key)
    assert json.loads(out) == {"id": cred_id, "object": "credential", "deleted": True}
    code, out, _ = cli("credentials", "delete", other["id"], api_key=key)
    assert (code, out) == (Exit.OK, f"deleted credential {other['id']}\n")
    code, _, err = cli("credentials", "get", cred_id, api_key=key)
    assert code == Exit.NOT_FOUND and cred_id in err
