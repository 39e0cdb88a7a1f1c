"""Models: registering what a job produced, finding its artifact on this machine, deleting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings
from db import jobs, resources
from db.models import Model, new_id
from reprogram.statuses import JobStatus
from reprogramming.spec import JobSpec
from services.errors import Conflict
from services.owned import owned
from storage.artifacts import ArtifactStore, forget_local_copy, get_store, model_directory


def get(session: Session, *, owner_id: str, model_id: str) -> Model:
    """One of the owner's models."""
    return owned(session, Model, owner_id=owner_id, id=model_id)


def register(
    session: Session, *, store: ArtifactStore, owner_id: str, job_id: str, spec: JobSpec,
    manifest: dict[str, Any], metrics: dict[str, Any], artifact_dir: Path,
) -> Model:  # fmt: skip
    """Store a finished job's artifact, register its model and mark the job succeeded.

    Idempotent: a retried transaction whose first commit went through returns the first model.
    """
    existing = resources.model_for_job(session, job_id=job_id)
    if existing is not None:
        return existing
    model_id = new_id("mdl")
    location, size = store.put_artifact(session, model_id=model_id, source=artifact_dir)
    model = Model(
        id=model_id,
        owner_id=owner_id,
        job_id=job_id,
        name=spec.name,
        method=manifest.get("method", spec.method.kind),
        labels=manifest.get("labels", []),
        metrics=metrics,
        backbone=manifest.get("backbone", {}),
        manifest=manifest,
        artifact_store=store.name,
        artifact_location=location,
        artifact_bytes=size,
    )
    session.add(model)
    session.flush()
    jobs.finish_job(
        session, job_id=job_id, status=JobStatus.SUCCEEDED, model_id=model_id, metrics=metrics
    )
    store.delete_checkpoint(session, job_id=job_id)
    return model


def local_directory(session: Session, *, settings: Settings, owner_id: str, model_id: str) -> Path:
    """The local directory of one of the owner's models (fetched into this machine's cache)."""
    model = get(session, owner_id=owner_id, model_id=model_id)
    return model_directory(session, model=model, settings=settings)


def delete(session: Session, *, settings: Settings, owner_id: str, model_id: str) -> None:
    """Delete one of the owner's models and its stored bytes, unless something still needs it."""
    model = get(session, owner_id=owner_id, model_id=model_id)
    children = resources.models_built_on(session, model_id=model_id)
    if children:
        raise Conflict("model_in_use", f"model '{model_id}' is the backbone of model "
                       f"'{children[0]}'; delete that first")  # fmt: skip
    jobs_using = resources.active_jobs_using(session, model_id=model_id)
    if jobs_using:
        job = jobs_using[0]
        raise Conflict("model_in_use", f"model '{model_id}' is the backbone of job '{job.id}' "
                       f"({job.status}); cancel it or wait for it to end")  # fmt: skip
    get_store(settings, model.artifact_store).delete_artifact(
        session, location=model.artifact_location
    )
    session.delete(model)
    session.flush()
    forget_local_copy(settings, model_id=model_id)
