"""The one task: claim a job, run one attempt of it, and record how the attempt ended."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from config.logs import log_event
from config.settings import Settings, get_settings
from db import jobs, workers
from db.models import utcnow
from messaging import notify
from messaging.broker import RUN_JOB, send_job
from services.specs import ResourcesSpec, parse_stored
from worker import lifecycle
from worker.app import app
from worker.attempt import Claim, run_attempt, transaction
from worker.device import this_device, unfit

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
        spec = parse_stored(dict(job.spec))
        if job.estimated_seconds is not None:  # from similar jobs; the first epoch refines it
            left = job.estimated_seconds * (1 - job.progress)
            job.estimated_finish_at = utcnow() + timedelta(seconds=left)
        return Claim(job_id, job.owner_id, spec, job.attempt, worker, job.queue, job.epoch,
                     job.sweep_id, job.trial)  # fmt: skip

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
    why_not = refusal(settings, job_id=job_id)
    if why_not is not None:  # left queued: a worker that fits takes it (recovery re-sends it)
        log_event(log, "job refused: this worker cannot hold it", level=logging.WARNING,
                  job_id=job_id, reason=why_not, worker=worker)  # fmt: skip
        return "refused"
    claimed = claim(settings, job_id=job_id, worker=worker)
    if claimed is None:
        log_event(log, "job not claimed: finished, or alive on another worker", job_id=job_id)
        return "skipped"
    log_event(log, "job claimed", job_id=job_id, attempt=claimed.attempt, worker=worker)
    notify.publish(settings, job_id=job_id)
    started = time.monotonic()
    transaction(settings, lambda s: workers.start_job(s, id=worker, job_id=job_id), job_id=job_id)
    try:
        with lifecycle.running(job_id, worker=worker, queue=claimed.queue):
            outcome = run_attempt(claimed, settings=settings)
    finally:
        seconds = time.monotonic() - started
        transaction(settings, lambda s: workers.end_job(s, id=worker, seconds=seconds),
                    job_id=job_id)  # fmt: skip
    log_event(log, "job attempt ended", job_id=job_id, attempt=claimed.attempt, outcome=outcome)
    return outcome


def refusal(settings: Settings, *, job_id: str) -> str | None:
    """Why this worker's device cannot hold the job, or None if it can (or the job is gone)."""

    def resources(session: Session) -> ResourcesSpec | None:
        job = jobs.get_job(session, job_id=job_id)
        return None if job is None else parse_stored(dict(job.spec)).resources

    return unfit(transaction(settings, resources, job_id=job_id), this_device())
