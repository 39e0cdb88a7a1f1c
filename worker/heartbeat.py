"""The heartbeat of a running job: tells the database the worker lives, hears cancel and loss."""

from __future__ import annotations

import logging
import threading

from config.logs import describe, log_event
from config.settings import Settings
from db import jobs
from db.session import run_transaction
from reprogram.statuses import FINISHED, JobStatus

log = logging.getLogger("reprogram.worker")


class Heartbeat(threading.Thread):
    """Beats every `interval` seconds until `done`; sets `cancel`, `pause` or `lost` on hearing so."""

    def __init__(self, *, job_id: str, worker: str, interval: float, settings: Settings) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id, self.worker, self.interval = job_id, worker, interval
        self.url = settings.sqlalchemy_url
        self.cancel = threading.Event()
        self.pause = threading.Event()
        self.lost = threading.Event()
        self.done = threading.Event()
        self.progress: float | None = None

    def run(self) -> None:
        unreachable = False
        while not self.done.wait(self.interval):
            try:
                status, ours = run_transaction(
                    lambda s: jobs.beat(
                        s, job_id=self.job_id, worker=self.worker, progress=self.progress
                    ),
                    url=self.url,
                )
            except Exception as exc:  # a database outage must not kill the job; beat again later
                if not unreachable:
                    log_event(log, "heartbeat failed; retrying", level=logging.WARNING,
                              job_id=self.job_id, error=describe(exc))  # fmt: skip
                unreachable = True
                continue
            if unreachable:
                log_event(log, "heartbeat recorded again", job_id=self.job_id)
                unreachable = False
            if not ours:  # another worker reclaimed the job after we went silent
                self.lost.set()
            if status == JobStatus.CANCELLING:
                self.cancel.set()
            elif status == JobStatus.PAUSING:
                self.pause.set()
            elif status in FINISHED:
                self.lost.set()
