"""Recovery: whatever the broker lost is found again in the database and sent again.

One mechanism covers a lost or flushed broker, an API that died between commit and send, and a
worker that died mid-job: a periodic scan, run by every worker, that re-sends

* queued jobs nobody claimed within requeue_after_s (then at doubling intervals), or at once
  when the broker's queue is empty although the database says jobs are waiting, and
* running jobs whose worker's heartbeat went silent (the next claim resumes the checkpoint).

Rows are locked FOR UPDATE SKIP LOCKED while they are sent, so concurrent scans never send the
same job twice; and a job sent twice anyway is harmless, because a worker must claim it first.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from config.logs import log_event
from config.settings import Settings, get_settings
from db import jobs
from db.models import Job, utcnow
from db.session import session_scope
from messaging import notify
from messaging.broker import queue_depth, send_job
from services import sweeps, webhooks
from services.enqueue import redispatch_delay
from services.periodic import run_every
from storage.artifacts import get_store

log = logging.getLogger("reprogram.recovery")
_stop = threading.Event()


def _why_resend(job: Job, settings: Settings, depths: dict[str, int | None]) -> str | None:
    """Why a due job should be sent again now, or None to leave it."""
    now = utcnow()
    overdue = job.redispatch_at is None or job.redispatch_at <= now
    if job.status != jobs.QUEUED:
        return "worker silent" if overdue else None
    if overdue:
        return "unclaimed"
    queue = job.queue or settings.queue
    if queue not in depths:
        depths[queue] = queue_depth(settings, queue=queue)
    return "broker queue empty" if depths[queue] == 0 else None


def sweep(settings: Settings | None = None) -> list[str]:
    """Send again every job the broker may have lost; return the ids sent."""
    settings = settings or get_settings()
    sent: list[str] = []
    cancelled: list[str] = []
    depths: dict[str, int | None] = {}
    with session_scope(settings.sqlalchemy_url) as session:
        due = jobs.due_for_dispatch(
            session,
            quiet_for=timedelta(seconds=min(settings.requeue_after_s, 10.0)),
            stale_after=timedelta(seconds=settings.heartbeat_timeout_s),
        )
        for job in due:
            if job.status == jobs.PAUSING:  # its worker died before it could stop it
                jobs.paused(session, job_id=job.id, reason="its worker went silent; resumes "
                            "after the last checkpointed epoch")  # fmt: skip
                log_event(log, "job paused (its worker went silent)", job_id=job.id)
                cancelled.append(job.id)  # its watchers are told, as for a cancel
                continue
            if job.status == jobs.CANCELLING:  # its worker died before it could stop it
                jobs.finish_job(session, job_id=job.id, status=jobs.CANCELLED)
                get_store(settings).delete_checkpoint(session, job_id=job.id)
                log_event(log, "job cancelled (its worker went silent)", job_id=job.id)
                cancelled.append(job.id)
                continue
            reason = _why_resend(job, settings, depths)
            if reason is None:
                continue
            queue = job.queue or settings.queue
            if not send_job(settings, job_id=job.id, queue=queue):
                break  # the broker is down: the next scan tries again
            jobs.mark_dispatched(
                session, job=job, redispatch_after=redispatch_delay(
                    settings, dispatches=job.dispatches + 1)
            )  # fmt: skip
            log_event(
                log, "job re-sent", level=logging.WARNING, job_id=job.id, status=job.status,
                reason=reason, queue=queue, dispatches=job.dispatches,
            )  # fmt: skip
            sent.append(job.id)
    for job_id in cancelled:
        notify.publish(settings, job_id=job_id)
    return sent


def scan_interval(settings: Settings) -> float:
    """Seconds between scans: a fraction of both timeouts, and at most 5 s (a scan is cheap)."""
    return min(5.0, max(0.5, min(settings.requeue_after_s, settings.heartbeat_timeout_s) / 4))


def _scan(settings: Settings) -> None:
    sweep(settings)
    webhooks.send_due(settings)
    sweeps.advance_running(settings)


def _loop(settings: Settings) -> None:
    run_every(interval=scan_interval(settings), action=lambda: _scan(settings), stop=_stop,
              what="recovery scan", log=log)  # fmt: skip


def start_recovery_thread(settings: Settings | None = None) -> None:
    """Scan now and then periodically, in the background of this process."""
    _stop.clear()
    threading.Thread(
        target=_loop, args=(settings or get_settings(),), daemon=True, name="recovery"
    ).start()


def stop_recovery_thread() -> None:
    _stop.set()
