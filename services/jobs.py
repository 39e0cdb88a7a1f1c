"""Jobs: create (references checked, idempotent, sent after commit), read, cancel, events."""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.settings import Settings
from db import jobs, resources
from db.models import Dataset, Event, Job, Model
from db.repository import OwnedRepository
from messaging.broker import queue_for
from reprogram.statuses import FINISHED, JobStatus
from reprogramming import spec as engine_spec
from reprogramming.backbones import check_backbone_name
from reprogramming.data import DATASETS
from reprogramming.errors import UnknownNameError
from services import estimates, remote_datasets
from services.enqueue import enqueue_job, redispatch_delay
from services.errors import Conflict, Invalid
from services.owned import owned
from services.specs import JobSpec
from storage.artifacts import get_store


def check_references(session: Session, *, spec: engine_spec.JobSpec, owner_id: str) -> None:
    """Unknown backbones or datasets, and other owners' models or uploads, are refused."""
    backbone, dataset = spec.backbone, spec.dataset
    if backbone.name is not None:
        try:
            check_backbone_name(backbone.name)
        except UnknownNameError as exc:
            raise Invalid("unknown_backbone", exc.message, field="backbone.name") from None
    if backbone.artifact is not None:
        raise Invalid("invalid_request", "use 'model_id' to build on a model of this service",
                      field="backbone.artifact")  # fmt: skip
    if backbone.model_id is not None and (
        OwnedRepository(session, Model, owner_id=owner_id).get(backbone.model_id) is None
    ):
        raise Invalid("unknown_model", f"no model '{backbone.model_id}'", field="backbone.model_id")
    if dataset.name is not None and dataset.name not in DATASETS:
        raise Invalid(
            "unknown_dataset",
            f"unknown dataset '{dataset.name}'; known: {', '.join(DATASETS.names())} "
            "(or upload one: POST /v1/datasets, then use 'upload_id')",
            field="dataset.name",
        )
    if dataset.path is not None:
        raise Invalid("invalid_request", "upload the dataset (POST /v1/datasets) and use "
                      "'upload_id'", field="dataset.path")  # fmt: skip
    if dataset.upload_id is not None and (
        OwnedRepository(session, Dataset, owner_id=owner_id).get(dataset.upload_id) is None
    ):
        raise Invalid(
            "unknown_dataset", f"no dataset '{dataset.upload_id}'", field="dataset.upload_id"
        )


def create(
    session: Session, *, settings: Settings, owner_id: str, spec: JobSpec,
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:  # fmt: skip
    """Queue a job (a worker is woken after the commit); (job, created).

    With an idempotency key already used for the same spec, the first job is returned instead.
    """
    check_references(session, spec=spec, owner_id=owner_id)
    if isinstance(spec, JobSpec) and spec.dataset.uri is not None:
        remote_datasets.check(session, settings=settings, owner_id=owner_id, dataset=spec.dataset)
    body = spec.model_dump(mode="json", exclude_none=True)
    accelerator = (
        spec.resources.accelerator if isinstance(spec, JobSpec) and spec.resources else "any"
    )
    job, created = jobs.create_job(
        session, owner_id=owner_id, spec=body, queue=queue_for(settings, accelerator=accelerator),
        redispatch_after=redispatch_delay(settings, dispatches=1), idempotency_key=idempotency_key,
    )  # fmt: skip
    if not created and job.spec != body:
        raise Conflict("idempotency_conflict", "this Idempotency-Key was used for a different "
                       "job spec")  # fmt: skip
    if created:
        estimates.estimate_new(session, settings=settings, job=job)
        enqueue_job(session, settings=settings, job_id=job.id, queue=job.queue)
    return job, created


def get(session: Session, *, owner_id: str, job_id: str) -> Job:
    """One of the owner's jobs."""
    return owned(session, Job, owner_id=owner_id, id=job_id)


def cancel(session: Session, *, owner_id: str, job_id: str) -> Job:
    """Cancel a queued job now, or ask a running one to stop within a training step."""
    job = get(session, owner_id=owner_id, job_id=job_id)
    if job.status in FINISHED:
        raise Conflict("already_finished", f"job '{job_id}' already {job.status}")
    return jobs.request_cancel(session, job=job)


def pause(session: Session, *, owner_id: str, job_id: str) -> Job:
    """Pause a queued job now, or have a running one checkpoint and free its worker."""
    job = get(session, owner_id=owner_id, job_id=job_id)
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise Conflict("not_pausable", f"job '{job_id}' is {job.status}; only a queued or "
                       "running job can be paused")  # fmt: skip
    return jobs.request_pause(session, job=job)


def resume(session: Session, *, settings: Settings, owner_id: str, job_id: str) -> Job:
    """Queue a paused job again; it continues from where it stopped."""
    job = get(session, owner_id=owner_id, job_id=job_id)
    if not jobs.resume(session, job=job, redispatch_after=redispatch_delay(settings, dispatches=1)):
        raise Conflict("not_paused", f"job '{job_id}' is {job.status}, not paused")
    enqueue_job(session, settings=settings, job_id=job.id, queue=job.queue)
    return job


def events(
    session: Session, *, owner_id: str, job_id: str, after: int | None, limit: int
) -> tuple[list[Event], bool]:
    """A page of the job's events in order, after the event id `after`; (events, has more)."""
    get(session, owner_id=owner_id, job_id=job_id)
    rows = jobs.list_events(session, job_id=job_id, after=after, limit=limit + 1)
    return rows[:limit], len(rows) > limit


def is_finished(status: str | None) -> bool:
    """Whether a status is final (a job in it has no more events to come)."""
    return status is not None and JobStatus(status) in FINISHED


def hand_back(
    session: Session, *, settings: Settings, job_id: str, worker: str, reason: str,
    queue: str | None,
) -> bool:  # fmt: skip
    """Put a job this worker holds back in the queue (a worker is woken after the commit)."""
    handed = jobs.hand_back(
        session, job_id=job_id, worker=worker, reason=reason,
        redispatch_after=redispatch_delay(settings, dispatches=1),
    )  # fmt: skip
    if handed:
        enqueue_job(session, settings=settings, job_id=job_id, queue=queue)
    return handed


def delete(session: Session, *, settings: Settings, owner_id: str, job_id: str) -> None:
    """Delete a finished job with its events and checkpoint (its model must go first)."""
    job = get(session, owner_id=owner_id, job_id=job_id)
    if job.status not in FINISHED:
        raise Conflict("job_active", f"job '{job_id}' is {job.status}; cancel it first")
    model = resources.model_for_job(session, job_id=job_id)
    if model is not None:
        raise Conflict("job_has_model", f"job '{job_id}' produced model '{model.id}'; "
                       "delete the model first")  # fmt: skip
    get_store(settings).delete_checkpoint(session, job_id=job_id)
    jobs.delete_job(session, job_id=job_id)
