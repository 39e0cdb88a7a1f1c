"""How fast lost work comes back, with the service's default settings.

On a private Postgres and a private redis-server (started here, removed afterwards), with the
API and one worker as separate processes, it measures:

1. broker restart → a job stranded in it running again, the worker idle (the job was accepted
   while the broker was down, so its only message was never delivered);
2. the issue's case: jobs waiting behind a running one when the broker restarts; the time from
   the running job's end to the next one running (the waiting ones' messages are gone);
3. SIGTERM to a worker mid-epoch → the worker gone, and the job handed back at which step;
4. Postgres down for --outage seconds (60) mid-job: the job's end, its epochs, the API's answers;
5. Redis down for --outage seconds mid-job, a job submitted meanwhile: restart → it running.

    .venv/bin/python bench/recovery.py [--outage 60] [--requeue-after S] [--heartbeat-timeout S]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the fault tests' private servers

from common import command_line, fresh_data_dir, table  # noqa: E402
from support.client import Api, small_job  # noqa: E402
from support.faults import PrivatePostgres, PrivateRedis  # noqa: E402
from support.services import Service, service_env  # noqa: E402

PROGRAM = {"kind": "adversarial_program", "canvas_size": 32}


def _until(api: Api, job_id: str, statuses: tuple[str, ...], timeout: float = 900) -> float:
    """Wait until the job reaches one of statuses; the monotonic time it was seen there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get(f"/v1/jobs/{job_id}").json()["status"] in statuses:
            return time.monotonic()
        time.sleep(0.1)
    raise SystemExit(f"job {job_id} never reached {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requeue-after", type=float, default=None, help="default: the service's")
    parser.add_argument("--heartbeat-timeout", type=float, default=None)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds a server stays down")
    args = parser.parse_args()
    print(command_line())
    postgres, redis = PrivatePostgres(), PrivateRedis()
    rows: list[tuple[str, Any]] = []
    with fresh_data_dir() as data:
        overrides = {"requeue_after_s": args.requeue_after,
                     "heartbeat_timeout_s": args.heartbeat_timeout}  # fmt: skip
        env = service_env(
            data_dir=data, database_url=postgres.create_database("bench"), broker_url=redis.url,
            queue="bench", **{name: v for name, v in overrides.items() if v is not None},
        )  # fmt: skip
        service = Service(env=env, data_dir=data)
        try:
            service.start_worker()
            service.start_api()
            key = service.create_key("bench")
            with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
                     timeout=30) as api:  # fmt: skip
                rows += _measure(api, service, redis)
                rows += _outages(api, postgres, redis, outage=args.outage)
        finally:
            service.stop()
            redis.close()
            postgres.close()
    print(table(("measured", "value"), rows))


def _measure(api: Api, service: Service, redis: PrivateRedis) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    warm = api.post("/v1/jobs", json=small_job(method=PROGRAM)).json()["id"]
    _until(api, warm, ("succeeded",))  # data and weights cached: later jobs start at once

    # 1. the worker idle, the job's only message sent to a broker that was down
    redis.kill()
    stranded = api.post("/v1/jobs", json=small_job(method=PROGRAM)).json()["id"]
    redis.start()
    restarted = time.monotonic()
    rows.append(("1. broker restart → stranded job running (worker idle)",
                 f"{_until(api, stranded, ('running', 'succeeded')) - restarted:.1f} s"))  # fmt: skip
    _until(api, stranded, ("succeeded",))

    # 2. jobs waiting behind a running one lose their messages in a broker restart
    long = small_job(method=PROGRAM, hyperparameters={"epochs": 6, "batch_size": 16})
    running = api.post("/v1/jobs", json=long).json()["id"]
    waiting = [api.post("/v1/jobs", json=small_job(method=PROGRAM)).json()["id"] for _ in range(2)]
    api.wait_for_event(running, lambda e: e["type"] == "epoch")
    redis.kill()
    redis.start()
    ended = _until(api, running, ("succeeded",))
    started = _until(api, waiting[0], ("running", "succeeded"))
    rows.append(("2. running job's end → the next waiting job running", f"{started - ended:.1f} s"))
    for job_id in waiting:
        _until(api, job_id, ("succeeded",))

    # 3. a deploy stops the worker mid-epoch
    spec = small_job(method=PROGRAM, dataset={"name": "mnist_5k", "max_per_class": 50,
                     "test_max_per_class": 5}, hyperparameters={"epochs": 8, "batch_size": 8})  # fmt: skip
    job_id = api.post("/v1/jobs", json=spec).json()["id"]
    api.wait_for_event(job_id, lambda e: e["type"] == "epoch")
    time.sleep(1.5)
    stopped = time.monotonic()
    service.stop_worker()
    rows.append(("3. SIGTERM mid-epoch → worker exited", f"{time.monotonic() - stopped:.1f} s"))
    handed = [e["message"] for e in api.get(f"/v1/jobs/{job_id}/events").json()["data"]
              if (e["message"] or "").startswith("queued: ")]  # fmt: skip
    step = re.search(r"epoch \d+, step \d+", handed[-1]) if handed else None
    rows.append(("   handed back to resume at", step.group(0) if step else handed))
    service.start_worker()
    done = api.wait(job_id, timeout=900)
    epochs = [e["epoch"] for e in api.get(f"/v1/jobs/{job_id}/events").json()["data"]
              if e["type"] == "epoch"]  # fmt: skip
    rows.append(("   resumed job", f"{done['status']}, attempt {done['attempt']}, epochs {epochs}"))
    resent = sum(p.read_text().count("job re-sent") for p in service.logs)
    rows.append(("re-sent messages in all (duplicates are harmless)", resent))
    return rows


def _outages(
    api: Api, postgres: PrivatePostgres, redis: PrivateRedis, *, outage: float
) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    long = small_job(method=PROGRAM, hyperparameters={"epochs": 6, "batch_size": 16})

    # 4. the database goes away for a while mid-job
    job_id = api.post("/v1/jobs", json=long).json()["id"]
    api.wait_for_event(job_id, lambda e: e["type"] == "epoch")
    postgres.stop()
    asked = time.monotonic()
    answer = api.get(f"/v1/jobs/{job_id}")
    rows.append((f"4. Postgres down {outage:g} s: GET /v1/jobs/ID",
                 f"{answer.status_code} in {time.monotonic() - asked:.2f} s, "
                 f"Retry-After {answer.headers.get('retry-after')}"))  # fmt: skip
    time.sleep(outage)
    postgres.start()
    back = time.monotonic()
    done = api.wait(job_id, timeout=900)
    epochs = [e["epoch"] for e in api.get(f"/v1/jobs/{job_id}/events").json()["data"]
              if e["type"] == "epoch"]  # fmt: skip
    rows.append(("   the job", f"{done['status']} {time.monotonic() - back:.1f} s after the "
                 f"restart, attempt {done['attempt']}, epochs {epochs}"))  # fmt: skip

    # 5. the broker goes away for a while mid-job; a job is accepted meanwhile
    job_id = api.post("/v1/jobs", json=long).json()["id"]
    api.wait_for_event(job_id, lambda e: e["type"] == "epoch")
    redis.kill()
    accepted = api.post("/v1/jobs", json=small_job(method=PROGRAM))
    time.sleep(outage)
    redis.start()
    back = time.monotonic()
    done = api.wait(job_id, timeout=900)
    rows.append((f"5. Redis down {outage:g} s: the running job", f"{done['status']}, "
                 f"{time.monotonic() - back:.1f} s after the restart"))  # fmt: skip
    waited = _until(api, accepted.json()["id"], ("running", "succeeded"))
    rows.append((f"   a job accepted meanwhile ({accepted.status_code})",
                 f"running {waited - back:.1f} s after the restart"))  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
