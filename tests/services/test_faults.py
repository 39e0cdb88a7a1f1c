"""Fault injection: a broker restart, a database restart, a broker down at submit, a worker stopped.

Each runs against a deployment of its own (a private Postgres cluster, a private redis-server,
the API and a Celery worker as separate processes), so breaking them never disturbs the shared
servers. Every accepted job must end succeeded, with exactly one model and epoch events 1..N,
each exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.client import Api, resume_point, small_job
from support.faults import PrivatePostgres, PrivateRedis
from support.services import Service, service_env

# 5 epochs of an adversarial program on 200 digits: a few seconds an epoch on two cores.
JOB = small_job(
    name="fault",
    method={"kind": "adversarial_program", "canvas_size": 32},
    hyperparameters={"epochs": 5, "batch_size": 16},
)


@dataclass
class Deployment:
    """A service on private servers that the test may break."""

    postgres: PrivatePostgres
    redis: PrivateRedis
    service: Service
    api: Api

    def submit(self, spec: dict[str, Any] = JOB) -> str:
        created = self.api.post("/v1/jobs", json=spec)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def assert_succeeded_once(self, job_id: str, *, epochs: int) -> dict[str, Any]:
        """The job succeeded, with one model and epoch events 1..epochs, each exactly once."""
        done = self.api.wait(job_id, timeout=600)
        assert done["status"] == "succeeded", (done["error"], self.logs()[-6000:])
        events = self.api.get(f"/v1/jobs/{job_id}/events").json()["data"]
        assert [e["epoch"] for e in events if e["type"] == "epoch"] == list(range(1, epochs + 1))
        models = [m for m in self.api.get("/v1/models", params={"limit": 200}).json()["data"]
                  if m["job_id"] == job_id]  # fmt: skip
        assert [m["id"] for m in models] == [done["model_id"]]
        return dict(done)

    def logs(self) -> str:
        """Everything the service's processes have logged so far."""
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in self.service.logs)


@pytest.fixture
def deployment(tmp_path: Path, data_dir: Path) -> Iterator[Deployment]:
    postgres, redis = PrivatePostgres(), PrivateRedis()
    try:
        env = service_env(
            data_dir=data_dir,  # the session's dataset and feature caches
            database_url=postgres.create_database("faults"), broker_url=redis.url,
            queue="faults", heartbeat_timeout_s=20, requeue_after_s=3,
        )  # fmt: skip
        service = Service(env=env, data_dir=tmp_path)
        service.start_worker()
        service.start_api()
        key = service.create_key("faults")
        with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
                 timeout=30) as api:  # fmt: skip
            yield Deployment(postgres, redis, service, api)
        service.stop()
    finally:
        redis.close()
        postgres.close()


def test_broker_restart_loses_no_job(deployment: Deployment) -> None:
    """Redis keeps nothing on disk: a restart drops every queued message; recovery resends."""
    first = deployment.submit()
    waiting = [deployment.submit(), deployment.submit()]
    deployment.api.wait_for_event(first, lambda e: e["type"] == "epoch")
    assert [deployment.api.get(f"/v1/jobs/{j}").json()["status"] for j in waiting] == ["queued"] * 2

    deployment.redis.kill()
    ready = deployment.api.get("/readyz")
    assert ready.status_code == 503 and ready.headers["retry-after"]
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["broker"].startswith("unreachable")
    deployment.redis.start()  # empty: the waiting jobs' messages are gone
    restarted = time.monotonic()

    deployment.assert_succeeded_once(first, epochs=5)
    claimed = deployment.api.wait(waiting[0], until=("running", "succeeded"), timeout=300)
    print(f"broker restart → stranded job running again: {time.monotonic() - restarted:.1f} s "
          f"(its first epoch took part of it)")  # fmt: skip
    assert claimed["status"] in ("running", "succeeded")
    for job_id in waiting:
        deployment.assert_succeeded_once(job_id, epochs=5)
    assert "job re-sent" in deployment.logs()


def test_duplicate_messages_run_a_job_once(deployment: Deployment) -> None:
    """The conditional claim: extra messages for a running or finished job change nothing."""
    from config.settings import Settings
    from messaging.broker import send_job

    settings = Settings(broker_url=deployment.redis.url,
                        queue=deployment.service.env["REPROGRAM_QUEUE"])  # fmt: skip
    job_id = deployment.submit()
    deployment.api.wait_for_event(job_id, lambda e: e["type"] == "epoch")
    for _ in range(3):
        assert send_job(settings, job_id=job_id)
    done = deployment.assert_succeeded_once(job_id, epochs=5)
    assert done["attempt"] == 1
    for _ in range(2):
        assert send_job(settings, job_id=job_id)
    time.sleep(2)
    assert deployment.api.get(f"/v1/jobs/{job_id}").json()["attempt"] == 1
    assert deployment.logs().count("job not claimed") >= 3


def test_database_restart_mid_job(deployment: Deployment) -> None:
    """Postgres stops for a while: the API answers 503 with Retry-After, the job carries on."""
    job_id = deployment.submit()
    deployment.api.wait_for_event(job_id, lambda e: e["type"] == "epoch")
    deployment.postgres.stop()
    try:
        for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/events", "/v1/models"):
            answer = deployment.api.get(path)  # the client's 30-s timeout: never a hang
            assert answer.status_code == 503, (path, answer.text)
            assert int(answer.headers["retry-after"]) > 0
            assert answer.json()["error"]["code"] == "database_unavailable"
        ready = deployment.api.get("/readyz").json()["checks"]
        assert ready["database"].startswith("unreachable") and ready["broker"] == "ok"
        refused = deployment.api.post("/v1/jobs", json=JOB)
        assert refused.status_code == 503  # not accepted, so nothing is lost
        time.sleep(8)  # the job reaches an epoch end and waits for the database
    finally:
        deployment.postgres.start()
    deployment.assert_succeeded_once(job_id, epochs=5)
    assert "database unreachable; waiting for it" in deployment.logs()


def test_broker_down_at_submit(deployment: Deployment) -> None:
    """The window between commit and send: the job is accepted, and recovery sends it later."""
    deployment.redis.kill()
    job_id = deployment.submit()  # 201: the row is committed; the send failed
    assert deployment.api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    deployment.redis.start()
    deployment.assert_succeeded_once(job_id, epochs=5)
    logs = deployment.logs()
    assert "job not sent: broker unreachable" in logs and "job re-sent" in logs


def test_worker_sigterm_mid_epoch_hands_the_job_back(deployment: Deployment) -> None:
    """A deploy stops the worker: the job loses at most one step and resumes on the next one."""
    spec = small_job(
        name="long",
        method={"kind": "adversarial_program", "canvas_size": 32},
        dataset={"name": "mnist_5k", "max_per_class": 50, "test_max_per_class": 5},
        hyperparameters={"epochs": 5, "batch_size": 8},
    )
    job_id = deployment.submit(spec)
    deployment.api.wait_for_event(job_id, lambda e: e["type"] == "epoch")  # then, mid-job
    deployment.service.stop_worker()  # returns as soon as the worker has handed the job back
    job = deployment.api.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "queued" and job["epoch"] < 5  # stopped long before the job's end
    events = deployment.api.get(f"/v1/jobs/{job_id}/events").json()["data"]
    assert 2 <= resume_point(events[-1]["message"])[0] < 5, events[-1]

    deployment.service.start_worker()
    done = deployment.assert_succeeded_once(job_id, epochs=5)
    assert done["attempt"] == 2


def test_a_step_longer_than_the_stop_grace_is_abandoned_to_the_last_checkpoint(
    deployment: Deployment,
) -> None:
    """Past REPROGRAM_STOP_GRACE_S the worker hands the job back as it stood and exits anyway."""
    service = deployment.service
    service.stop_worker()  # idle: it just exits
    service.env["REPROGRAM_STOP_GRACE_S"] = "1"
    service.start_worker()
    # Backbone features of 224-px images, 256 a batch: one step takes seconds on two cores.
    spec = small_job(
        name="slow-steps",
        method={"kind": "linear_probe", "input_size": 224},
        dataset={"name": "digits", "max_per_class": 40, "test_max_per_class": 20},
        hyperparameters={"epochs": 2, "batch_size": 256},
    )
    job_id = deployment.submit(spec)
    deployment.api.wait_for_event(job_id, lambda e: "computing backbone features" in
                                  (e["message"] or ""))  # fmt: skip
    assert service.stop_worker() == 1  # it could not finish the step: it exited at the grace
    events = deployment.api.get(f"/v1/jobs/{job_id}/events").json()["data"]
    assert deployment.api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    assert "after a 1-s grace" in events[-1]["message"], events[-1]

    service.env["REPROGRAM_STOP_GRACE_S"] = "120"
    service.start_worker()
    done = deployment.assert_succeeded_once(job_id, epochs=2)
    assert done["attempt"] == 2
