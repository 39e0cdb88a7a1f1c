"""A worker's stop: its running job checkpoints at the next step and goes back to the queue.

SIGTERM or SIGINT starts Celery's warm shutdown, which would wait for the task to finish (hours,
for a long job). Instead `draining` tells the job to stop at its next step; the task then writes
a checkpoint and hands the job back, so a restart costs at most one step of work. A step that
outlasts stop_grace_s is abandoned: the job goes back as it stood at its last checkpoint and the
process exits.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from config.logs import describe, log_event
from config.settings import Settings
from db.session import run_transaction
from services import jobs

log = logging.getLogger("reprogram.worker")
draining = threading.Event()
_running: dict[str, tuple[str, str | None]] = {}  # the job running now → (worker id, queue)
_idle = threading.Event()
_idle.set()


@contextmanager
def running(job_id: str, *, worker: str, queue: str | None) -> Iterator[None]:
    """Mark the job this process is running (what the grace timer hands back if it must)."""
    _running[job_id] = (worker, queue)
    _idle.clear()
    try:
        yield
    finally:
        _running.pop(job_id, None)
        _idle.set()


def on_shutting_down(settings: Settings) -> None:
    """Begin a graceful stop (called from the signal handler: only flags and a thread)."""
    if draining.is_set():
        return
    draining.set()
    threading.Thread(
        target=_enforce_grace, args=(settings,), daemon=True, name="stop-grace"
    ).start()


def _enforce_grace(settings: Settings) -> None:
    for job_id in dict(_running):
        log_event(log, "worker stopping: its job checkpoints at the next step and is handed back",
                  job_id=job_id, grace_s=settings.stop_grace_s)  # fmt: skip
    if _idle.wait(settings.stop_grace_s):
        return
    reason = f"its worker stopped after a {settings.stop_grace_s:g}-s grace; resumes from the last checkpoint"
    for job_id, (worker, queue) in dict(_running).items():
        try:
            run_transaction(
                functools.partial(
                    jobs.hand_back, settings=settings, job_id=job_id, worker=worker,
                    reason=reason, queue=queue,
                ),
                url=settings.sqlalchemy_url,
            )  # fmt: skip
        except Exception as exc:  # its heartbeat goes silent; recovery resumes it
            log_event(log, "could not hand the job back", level=logging.WARNING, job_id=job_id,
                      error=describe(exc))  # fmt: skip
            continue
        log_event(log, "job handed back at the stop grace", level=logging.WARNING, job_id=job_id)
    log_event(log, "worker exiting: its job did not reach a step boundary in time",
              level=logging.WARNING)  # fmt: skip
    logging.shutdown()
    os._exit(1)
