"""Jobs and their events: the state machine and every query the API and worker share.

Functions here flush but never commit: the request or task that calls them owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, delete, func, or_, select, update
from sqlalchemy.orm import Session

from db import webhooks
from db.models import Event, Job, is_id, utcnow
from db.repository import OwnedRepository
from reprogram.statuses import FINISHED, JobStatus

QUEUED, RUNNING, CANCELLING = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING
SUCCEEDED, FAILED, CANCELLED = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED
PAUSING, PAUSED = JobStatus.PAUSING, JobStatus.PAUSED
# A worker holds the job in these (its heartbeat keeps them alive).
HELD = (RUNNING, CANCELLING, PAUSING)

# session.info: the jobs that reached a final status in the transaction (read after commit).
ENDED = "reprogram.jobs-ended"


def _update(session: Session, statement: Executable) -> CursorResult[Any]:
    """Run an UPDATE; its result says how many rows it changed (`rowcount`)."""
    return cast(CursorResult[Any], session.execute(statement))


def create_job(
    session: Session,
    *,
    owner_id: str,
    spec: dict[str, Any],
    queue: str | None = None,
    redispatch_after: timedelta = timedelta(minutes=1),
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:
    """A new queued job, or the owner's earlier job with the same idempotency key; (job, created).

    The new job counts as sent to `queue` now; if no worker claims it within redispatch_after,
    recovery sends it again.
    """
    if idempotency_key is not None:
        earlier = session.scalar(
            select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == idempotency_key)
        )
        if earlier is not None:
            return earlier, False
    now = utcnow()
    job = Job(
        owner_id=owner_id,
        name=spec.get("name"),
        spec=spec,
        status=QUEUED,
        idempotency_key=idempotency_key,
        created_at=now,
        queue=queue,
        dispatched_at=now,
        dispatches=1,
        redispatch_at=now + redispatch_after,
    )
    session.add(job)
    session.flush()
    add_event(session, job_id=job.id, type="status", message=QUEUED)
    return job, True


def get_job(session: Session, *, job_id: str, owner_id: str | None = None) -> Job | None:
    """The job, if it exists and (when owner_id is given) belongs to that owner."""
    job = session.get(Job, job_id) if is_id(job_id) else None
    if job is None or (owner_id is not None and job.owner_id != owner_id):
        return None
    return job


def job_status(session: Session, *, job_id: str) -> str | None:
    """The job's status now (None if there is no such job)."""
    return session.scalar(select(Job.status).where(Job.id == job_id))


def list_jobs(
    session: Session,
    *,
    owner_id: str,
    status: Sequence[str] | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """The owner's jobs, newest first, one page at a time; (page, next cursor or None)."""
    where = [Job.status.in_(status)] if status else []
    return OwnedRepository(session, Job, owner_id=owner_id).page(
        limit=limit, cursor=cursor, where=where
    )


def claim_job(session: Session, *, job_id: str, worker: str, stale_after: timedelta) -> Job | None:
    """Atomically take a queued job, or a running one whose worker went silent; None if taken."""
    now = utcnow()
    result = _update(
        session,
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.status == QUEUED,
                (Job.status.in_((RUNNING, CANCELLING))) & (Job.heartbeat_at < now - stale_after),
            ),
        )
        .values(
            status=RUNNING,
            attempt=Job.attempt + 1,
            worker=worker,
            heartbeat_at=now,
            started_at=now,
            # Claimed: the next send is owed when its heartbeat goes silent, not when the last
            # send's wait for a claim (up to requeue_after_s, doubling) would have run out.
            redispatch_at=None,
        )
        .execution_options(synchronize_session=False),
    )
    if result.rowcount != 1:
        return None
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    add_event(
        session,
        job_id=job_id,
        type="status",
        message=RUNNING if job.attempt == 1 else f"{RUNNING} (attempt {job.attempt}, resuming)",
    )
    return job


def beat(
    session: Session,
    *,
    job_id: str,
    worker: str,
    progress: float | None = None,
    epoch: int | None = None,
) -> tuple[str | None, bool]:
    """Record that the worker is alive (and its progress); (job status, whether it is ours)."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress
    if epoch is not None:
        values["epoch"] = epoch
    result = _update(
        session,
        update(Job)
        .where(Job.id == job_id, Job.worker == worker)
        .values(**values)
        .execution_options(synchronize_session=False),
    )
    status = session.scalar(select(Job.status).where(Job.id == job_id))
    return status, result.rowcount == 1


def record_epoch(
    session: Session,
    *,
    job_id: str,
    worker: str,
    epoch: int,
    metrics: dict[str, Any],
    progress: float,
    estimated_finish_at: datetime | None = None,
) -> bool:
    """Record an epoch's metrics once, if the job is still this worker's; False if it is not.

    A write retried after a lost connection, or a resumed attempt, finds the epoch recorded.
    """
    result = _update(
        session,
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status.in_(HELD))
        .values(
            heartbeat_at=utcnow(),
            progress=progress,
            epoch=epoch,
            estimated_finish_at=estimated_finish_at,
        )
        .execution_options(synchronize_session=False),
    )
    if result.rowcount != 1:
        return False
    recorded = session.scalar(
        select(Event.id).where(Event.job_id == job_id, Event.type == "epoch", Event.epoch == epoch)
    )
    if recorded is None:
        add_event(session, job_id=job_id, type="epoch", epoch=epoch, metrics=metrics)
    return True


def hand_back(
    session: Session, *, job_id: str, worker: str, reason: str, redispatch_after: timedelta
) -> bool:
    """Put this worker's running job back in the queue (the worker is stopping); False if not ours."""
    now = utcnow()
    result = _update(
        session,
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status == RUNNING)
        .values(
            status=QUEUED,
            worker=None,
            heartbeat_at=None,
            dispatched_at=now,
            dispatches=Job.dispatches + 1,
            redispatch_at=now + redispatch_after,
        )
        .execution_options(synchronize_session=False),
    )
    if result.rowcount != 1:
        return False
    add_event(session, job_id=job_id, type="status", message=f"{QUEUED}: {reason}")
    return True


def due_for_dispatch(
    session: Session, *, quiet_for: timedelta, stale_after: timedelta, limit: int = 200
) -> list[Job]:
    """Jobs the broker may have lost, locked until commit (a concurrent scan skips them).

    Queued jobs last sent longer than quiet_for ago, and running or cancelling jobs whose worker
    has been silent longer than stale_after; the caller decides which to send again.
    """
    now = utcnow()
    query = (
        select(Job)
        .where(
            or_(
                (Job.status == QUEUED)
                & or_(Job.dispatched_at.is_(None), Job.dispatched_at < now - quiet_for),
                Job.status.in_(HELD) & (Job.heartbeat_at < now - stale_after),
            )
        )
        .order_by(Job.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def mark_unsent(session: Session, *, job_id: str) -> None:
    """Record that the job's message never reached the broker: the next scan sends it."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == QUEUED)
        .values(dispatched_at=None, redispatch_at=None)
        .execution_options(synchronize_session=False)
    )


def mark_dispatched(session: Session, *, job: Job, redispatch_after: timedelta) -> None:
    """Record that the job was just sent again, and when to send it next if still unclaimed."""
    now = utcnow()
    job.dispatched_at, job.dispatches = now, job.dispatches + 1
    job.redispatch_at = now + redispatch_after
    session.flush()


def add_event(
    session: Session,
    *,
    job_id: str,
    type: str,
    epoch: int | None = None,
    metrics: dict[str, Any] | None = None,
    message: str | None = None,
) -> Event:
    """Append an event (status change, epoch metrics or log line) to a job."""
    event = Event(
        job_id=job_id, type=type, epoch=epoch, metrics=metrics, message=message, created_at=utcnow()
    )
    session.add(event)
    session.flush()
    if type == "status" and message:
        webhooks.announce_status(session, job_id=job_id, message=message)
        if message.split(":", 1)[0] in FINISHED:
            session.info.setdefault(ENDED, []).append(job_id)
    return event


def list_events(
    session: Session, *, job_id: str, after: int | None = None, limit: int = 1000
) -> list[Event]:
    """A job's events in order, those with id > after."""
    query = select(Event).where(Event.job_id == job_id)
    if after is not None:
        query = query.where(Event.id > after)
    return list(session.scalars(query.order_by(Event.id).limit(limit)))


def finish_job(
    session: Session,
    *,
    job_id: str,
    status: str,
    error: str | None = None,
    model_id: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> None:
    """Move a job to a final status and record how it ended."""
    assert status in FINISHED
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
    if model_id is not None:
        values["model_id"] = model_id
    if metrics is not None:
        values["metrics"] = metrics
    if status == SUCCEEDED:
        values["progress"] = 1.0
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    add_event(
        session, job_id=job_id, type="status", message=status if not error else f"{status}: {error}"
    )


def request_cancel(session: Session, *, job: Job) -> Job:
    """Cancel a queued or paused job at once, or ask a running one to stop within a step."""
    return _move(session, job=job, moves={QUEUED: CANCELLED, PAUSED: CANCELLED,
                                          RUNNING: CANCELLING, PAUSING: CANCELLING})  # fmt: skip


def _move(session: Session, *, job: Job, moves: dict[JobStatus, JobStatus]) -> Job:
    """Move the job from its status to the one `moves` gives, whatever a worker did meanwhile.

    Each try is a conditional UPDATE on the status just read: a worker that claimed the job (or
    let it go) in between makes it miss, and the next try reads the new status and moves that.
    """
    for _ in range(4):
        session.refresh(job)
        target = moves.get(JobStatus(job.status))
        if target is None:
            break  # finished, or already where it was asked to go
        values: dict[str, Any] = {"status": target}
        if target in FINISHED:
            values["finished_at"] = utcnow()
        result = _update(
            session,
            update(Job)
            .where(Job.id == job.id, Job.status == job.status)
            .values(**values)
            .execution_options(synchronize_session=False),
        )
        if result.rowcount == 1:
            add_event(session, job_id=job.id, type="status", message=target)
            break
    session.refresh(job)
    return job


def delete_job(session: Session, *, job_id: str) -> None:
    """Remove a job and its events."""
    session.execute(delete(Event).where(Event.job_id == job_id))
    session.execute(delete(Job).where(Job.id == job_id))


def record_pace(session: Session, *, job_id: str, seconds_per_epoch: float) -> None:
    """How long an epoch of this job took (what later similar jobs are estimated from)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(seconds_per_epoch=seconds_per_epoch)
        .execution_options(synchronize_session=False)
    )


def request_pause(session: Session, *, job: Job) -> Job:
    """Pause a queued job at once, or ask a running one to checkpoint and stop within a step."""
    return _move(session, job=job, moves={QUEUED: PAUSED, RUNNING: PAUSING})


def paused(session: Session, *, job_id: str, reason: str, worker: str | None = None) -> bool:
    """A pausing job has stopped (this worker's, or one whose worker died); False if not so."""
    query = update(Job).where(Job.id == job_id, Job.status == PAUSING)
    if worker is not None:
        query = query.where(Job.worker == worker)
    result = _update(
        session,
        query.values(status=PAUSED, worker=None, heartbeat_at=None).execution_options(
            synchronize_session=False
        ),
    )
    if result.rowcount != 1:
        return False
    add_event(session, job_id=job_id, type="status", message=f"{PAUSED}: {reason}")
    return True


def resume(session: Session, *, job: Job, redispatch_after: timedelta) -> bool:
    """Queue a paused job again (its next claim resumes from its checkpoint); False if not paused."""
    now = utcnow()
    result = _update(
        session,
        update(Job)
        .where(Job.id == job.id, Job.status == PAUSED)
        .values(
            status=QUEUED,
            dispatched_at=now,
            dispatches=Job.dispatches + 1,
            redispatch_at=now + redispatch_after,
        )
        .execution_options(synchronize_session=False),
    )
    if result.rowcount == 1:
        add_event(session, job_id=job.id, type="status", message=f"{QUEUED}: resumed")
    session.refresh(job)
    return result.rowcount == 1


def count_by_status(session: Session) -> dict[str, int]:
    """How many jobs are in each status (for /metrics)."""
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {str(status): 0 for status in JobStatus} | {status: count for status, count in rows}
