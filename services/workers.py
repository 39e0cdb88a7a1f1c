"""The fleet as the database sees it: live workers, and why a queued job is still waiting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from config.settings import Settings
from db import workers
from db.models import Job, Worker, utcnow
from reprogram.statuses import JobStatus
from services.specs import parse_stored


def live(session: Session, *, settings: Settings) -> list[Worker]:
    """Workers that reported themselves within heartbeat_timeout_s."""
    since = utcnow() - timedelta(seconds=settings.heartbeat_timeout_s)
    return workers.live(session, seen_since=since)


def waiting_reason(job: Job, fleet: Sequence[Worker]) -> str | None:
    """Why a queued job has no worker to run it, or None when one could take it."""
    if job.status != JobStatus.QUEUED:
        return None
    serving = [w for w in fleet if job.queue in w.queues]
    if not serving:
        return f"no live worker takes queue '{job.queue}'; start one with the resources it asks for"
    resources = parse_stored(dict(job.spec)).resources
    need = resources.min_memory_gb if resources else None
    if need is not None and all(w.memory_gb < need for w in serving):
        most = max(w.memory_gb for w in serving)
        return f"no live worker on queue '{job.queue}' has {need:g} GB (the most is {most:g} GB)"
    return None


def waiting_reasons(session: Session, *, settings: Settings, jobs: Sequence[Job]) -> dict[str, str]:
    """The waiting reasons of the queued jobs among `jobs`, by job id."""
    if not any(job.status == JobStatus.QUEUED for job in jobs):
        return {}
    fleet = live(session, settings=settings)
    reasons = {job.id: waiting_reason(job, fleet) for job in jobs}
    return {job_id: reason for job_id, reason in reasons.items() if reason is not None}
