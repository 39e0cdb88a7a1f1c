"""Workers as they report themselves: presence, current job and throughput."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Worker, utcnow


def report(
    session: Session, *, id: str, kind: str, device: str, memory_gb: float, queues: list[str],
    calibration: dict[str, float] | None = None,
) -> None:  # fmt: skip
    """Say this worker is alive (registering it on its first report), and its measured speed."""
    worker = session.get(Worker, id)
    if worker is None:
        worker = Worker(id=id, kind=kind, device=device, memory_gb=memory_gb, queues=queues)
        session.add(worker)
    else:
        worker.last_seen = utcnow()
    if calibration is not None and worker.calibration != calibration:
        worker.calibration = calibration
    session.flush()


def start_job(session: Session, *, id: str, job_id: str) -> None:
    session.execute(update(Worker).where(Worker.id == id).values(job_id=job_id, last_seen=utcnow()))


def end_job(session: Session, *, id: str, seconds: float) -> None:
    """The worker's job ended: it is free again, one attempt and `seconds` busier."""
    session.execute(
        update(Worker)
        .where(Worker.id == id)
        .values(
            job_id=None,
            jobs_done=Worker.jobs_done + 1,
            busy_s=Worker.busy_s + seconds,
            last_seen=utcnow(),
        )
    )


def live(session: Session, *, seen_since: datetime) -> list[Worker]:
    """The workers that reported themselves since a moment, by id."""
    return list(
        session.scalars(select(Worker).where(Worker.last_seen >= seen_since).order_by(Worker.id))
    )


def calibrations(session: Session, *, queue: str, seen_since: datetime) -> list[dict[str, float]]:
    """The startup measurements of the live workers that take jobs from a queue."""
    query = select(Worker.queues, Worker.calibration).where(Worker.last_seen >= seen_since)
    return [measured for queues, measured in session.execute(query) if measured and queue in queues]
