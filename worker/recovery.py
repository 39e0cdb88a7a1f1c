"""Resume jobs whose worker died: a scan for running jobs with a silent heartbeat."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from db import jobs
from db.session import session_scope
from db.settings import get_settings

log = logging.getLogger(__name__)
_stop = threading.Event()


def requeue_stale_jobs() -> list[str]:
    """Send every stale running job back to the queue; the claim makes duplicates harmless."""
    from worker.tasks import run_job_task

    settings = get_settings()
    with session_scope() as session:
        stale = jobs.stale_jobs(
            session, stale_after=timedelta(seconds=settings.heartbeat_timeout_s)
        )
    for job_id in stale:
        log.warning("job %s lost its worker; sending it back to the queue", job_id)
        run_job_task.apply_async(args=[job_id], queue=settings.queue)
    return stale


def _loop(interval: float) -> None:
    while True:
        try:
            requeue_stale_jobs()
        except Exception:
            log.exception("stale-job scan failed")
        if _stop.wait(interval):
            return


def start_recovery_thread() -> None:
    """Scan now and then periodically, in the background of this worker."""
    interval = max(1.0, get_settings().heartbeat_timeout_s / 2)
    _stop.clear()
    threading.Thread(target=_loop, args=(interval,), daemon=True, name="recovery").start()


def stop_recovery_thread() -> None:
    _stop.set()
