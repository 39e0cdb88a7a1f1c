"""The one task: claim a job, run one attempt of it, and record how the attempt ended."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from config.logs import log_event
from config.settings import Settings, get_settings
from db import jobs
from messaging import notify
from messaging.broker import RUN_JOB, send_job
from reprogramming.spec import parse_spec
from worker import lifecycle
from worker.app import app
from worker.attempt import Claim, run_attempt, transaction

log = logging.getLogger("reprogram.worker")


def claim(settings: Settings, *, job_id: str, worker: str) -> Claim | None:
    """Take the job if it is queued, or running on a silent worker; None if it is not ours."""

    def take(session: Session) -> Claim | None:
        job = jobs.claim_job(
            session, job_id=job_id, worker=worker,
            stale_after=timedelta(seconds=settings.heartbeat_timeout_s),
        )  # fmt: skip
        if job is None:
            return None
        spec = parse_spec(dict(job.spec))
        return Claim(job_id, job.owner_id, spec, job.attempt, worker, job.queue)

    return transaction(settings, take, job_id=job_id)


@app.task(name=RUN_JOB, bind=True)
def run_job_task(self: Any, job_id: str) -> str:
    """Claim the job (a redelivered or repeated message never runs it twice) and run it."""
    settings = get_settings()
    worker = f"{self.request.hostname or socket.gethostname()}/{os.getpid()}"
    if lifecycle.draining.is_set():  # a message taken just as the worker began to stop
        log_event(log, "job left for another worker (this one is stopping)", job_id=job_id)
        send_job(settings, job_id=job_id)
        return "skipped"
    claimed = claim(settings, job_id=job_id, worker=worker)
    if claimed is None:
        log_event(log, "job not claimed: finished, or alive on another worker", job_id=job_id)
        return "skipped"
    log_event(log, "job claimed", job_id=job_id, attempt=claimed.attempt, worker=worker)
    notify.publish(settings, job_id=job_id)
    with lifecycle.running(job_id, worker=worker, queue=claimed.queue):
        outcome = run_attempt(claimed, settings=settings)
    log_event(log, "job attempt ended", job_id=job_id, attempt=claimed.attempt, outcome=outcome)
    return outcome
