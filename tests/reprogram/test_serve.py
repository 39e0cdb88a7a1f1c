"""`reprogram serve`: no configuration, SQLite and a no-server broker, a job to a model."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as photos
from support.client import Api, resume_point, small_job
from support.services import free_port, wait_http


def test_embedded_server_runs_a_job_to_a_model(tmp_path: Path, data_dir: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPROGRAM_")}
    env |= {"HOME": str(home), "REPROGRAM_HEARTBEAT_TIMEOUT_S": "30"}
    port = free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "reprogram.cli", "serve", "--port", str(port)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", process=server, log=log)
        output = log.read_text()
        key = next(line.split()[-1] for line in output.splitlines() if line.startswith("API key:"))
        data = home / ".cache" / "reprogram"
        assert (data / "reprogram.db").exists() and (data / "api-key").read_text().strip() == key
        with Api(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
            assert api.get("/readyz").json()["checks"] == {"database": "ok", "broker": "ok"}
            job = api.post("/v1/jobs", json=small_job()).json()
            done = api.wait(job["id"], timeout=600)
            assert done["status"] == "succeeded", done["error"]
            epochs = [e for e in api.get(f"/v1/jobs/{job['id']}/events").json()["data"]
                      if e["type"] == "epoch"]  # fmt: skip
            assert len(epochs) == 3
            buffer = io.BytesIO()
            Image.fromarray(photos.chelsea()).save(buffer, format="JPEG")
            predicted = api.post(
                f"/v1/models/{done['model_id']}/predict",
                files=[("files", ("cat.jpg", buffer.getvalue(), "image/jpeg"))],
            )
            assert predicted.status_code == 200, predicted.text
            assert len(predicted.json()["predictions"][0]["top_k"]) == 5
        # only the loopback interface by default
        assert "127.0.0.1" in output

        # a `serve` killed outright takes its worker with it (no orphan polling the queue)
        [worker] = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{worker}").exists() and _state(worker) != "Z":
            assert time.monotonic() < deadline, "the worker outlived `serve` by a minute"
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _state(pid: str) -> str:
    """A process's state letter from /proc (Z: exited, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_serve_hands_its_running_job_back_within_seconds(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """`serve` stopped mid-job: its worker checkpoints at the next step and hands the job back,
    both processes are gone within seconds, and the next `serve` finishes the job from there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPROGRAM_")}
    env |= {"HOME": str(tmp_path / "home"), "REPROGRAM_HEARTBEAT_TIMEOUT_S": "30"}
    # Tens of seconds of work: 5 epochs of an adversarial program, 8 images a step.
    spec = small_job(
        method={"kind": "adversarial_program", "canvas_size": 32},
        dataset={"name": "mnist_5k", "max_per_class": 50, "test_max_per_class": 5},
        hyperparameters={"epochs": 5, "batch_size": 8},
    )
    server, url, key = _serve(env, tmp_path / "serve-1.log")
    try:
        with Api(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
            job = api.post("/v1/jobs", json=spec).json()
            # Stopped in a later epoch (how far it got depends on the machine's speed).
            api.wait_for_event(job["id"], lambda e: e["type"] == "epoch" and e["epoch"] == 1)
            [worker] = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            stopped_at = time.monotonic()
            os.kill(server.pid, stop)
            server.wait(60)
            while Path(f"/proc/{worker}").exists() and _state(worker) != "Z":
                assert time.monotonic() - stopped_at < 20, "the worker outlived `serve` by 20 s"
                time.sleep(0.1)
            assert time.monotonic() - stopped_at < 20
    finally:
        _stop(server)

    server, url, key = _serve(env, tmp_path / "serve-2.log")
    try:
        with Api(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
            events = api.get(f"/v1/jobs/{job['id']}/events").json()["data"]
            handed = [e["message"] for e in events if (e["message"] or "").startswith("queued: ")]
            assert handed and 2 <= resume_point(handed[0])[0] < 5, handed
            done = api.wait(job["id"], timeout=900)
            assert done["status"] == "succeeded", done["error"]
            assert done["attempt"] == 2
            events = api.get(f"/v1/jobs/{job['id']}/events").json()["data"]
            assert [e["epoch"] for e in events if e["type"] == "epoch"] == list(range(1, 6))
    finally:
        _stop(server)


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """A running `reprogram serve` (its own session), its URL and its API key."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reprogram.cli", "serve", "--port", str(port)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", process=server, log=log)
    key = next(line.split()[-1] for line in log.read_text().splitlines()
               if line.startswith("API key:"))  # fmt: skip
    return server, url, key


def _stop(server: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
