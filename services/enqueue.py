"""Work is sent to the broker after the transaction that created it commits, from here alone:
jobs (enqueue_job) and webhook deliveries (written by db.webhooks; sent for every session).

A worker must find a job's row the moment its message arrives, so nothing is sent before the
commit; and a rolled-back transaction sends nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from config.logs import describe, log_event
from config.settings import Settings, get_settings
from db import jobs, webhooks
from db.session import session_scope
from messaging.broker import send_delivery, send_job

log = logging.getLogger("reprogram.enqueue")
_PENDING = "reprogram.enqueued"


@event.listens_for(Session, "after_commit")
def _send_deliveries(session: Session) -> None:
    """Webhook deliveries written by the committed transaction (db.webhooks) go out now."""
    ids = session.info.pop(webhooks.OUTBOX, None)
    if ids:
        settings = get_settings()
        for delivery_id in ids:
            send_delivery(settings, delivery_id=delivery_id)  # the scan re-sends a lost one


@event.listens_for(Session, "after_rollback")
def _drop_deliveries(session: Session) -> None:
    session.info.pop(webhooks.OUTBOX, None)


def enqueue_job(session: Session, *, settings: Settings, job_id: str, queue: str | None) -> None:
    """Send the job to the broker once this session commits."""
    pending: list[tuple[Settings, str, str | None]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _send_pending)
        event.listen(session, "after_rollback", _drop_pending)
    pending.append((settings, job_id, queue))


def _send_pending(session: Session) -> None:
    pending = session.info.get(_PENDING) or []
    sends, pending[:] = list(pending), []
    for settings, job_id, queue in sends:
        # Accepted either way: if the broker is down, recovery sends the job when it is back.
        if not send_job(settings, job_id=job_id, queue=queue):
            _note_unsent(settings, job_id=job_id)


def _drop_pending(session: Session) -> None:
    (session.info.get(_PENDING) or []).clear()


def _note_unsent(settings: Settings, *, job_id: str) -> None:
    """Let recovery's next scan send the job at once (best effort: it would anyway, later)."""
    try:
        with session_scope(settings.sqlalchemy_url) as session:
            jobs.mark_unsent(session, job_id=job_id)
    except Exception as exc:  # the job is committed; a missing mark only delays its send
        log_event(log, "could not mark the job unsent", level=logging.WARNING, job_id=job_id,
                  error=describe(exc))  # fmt: skip


def redispatch_delay(settings: Settings, *, dispatches: int) -> timedelta:
    """How long a job sent `dispatches` times may wait unclaimed before it is sent again."""
    seconds = settings.requeue_after_s * 2 ** max(0, dispatches - 1)
    return timedelta(seconds=min(seconds, settings.requeue_max_s))
