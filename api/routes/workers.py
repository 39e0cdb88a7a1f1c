"""The fleet: live workers by kind, their current jobs and their throughput."""

from __future__ import annotations

from fastapi import APIRouter

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import responses
from db.models import Job, utcnow
from services import workers

router = APIRouter(prefix="/v1/workers", tags=["workers"], responses=responses(401, 503))


@router.get("", response_model=schemas.WorkerList)
def list_workers(owner: OwnerDep, session: SessionDep, settings: SettingsDep) -> schemas.WorkerList:
    """Workers seen within the heartbeat timeout (a job id is shown only to its owner)."""
    data = []
    for worker in workers.live(session, settings=settings):
        job = session.get(Job, worker.job_id) if worker.job_id else None
        hours = max((utcnow() - worker.started_at).total_seconds(), 1.0) / 3600
        shown = schemas.Worker(
            id=worker.id, kind=worker.kind, device=worker.device, memory_gb=worker.memory_gb,
            queues=worker.queues, started_at=worker.started_at, last_seen=worker.last_seen,
            busy=worker.job_id is not None,
            job_id=worker.job_id if job is not None and job.owner_id == owner.id else None,
            jobs_done=worker.jobs_done, jobs_per_hour=round(worker.jobs_done / hours, 2),
            busy_fraction=round(min(1.0, worker.busy_s / (hours * 3600)), 3),
            calibration=worker.calibration or None,
        )  # fmt: skip
        data.append(shown)
    return schemas.WorkerList(data=data)
