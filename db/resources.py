"""Models, blobs and dependants: the queries behind the registry, artifacts and deletes."""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.models import Blob, Dataset, Job, Model, Owner
from reprogram.statuses import ACTIVE


def model_for_job(session: Session, *, job_id: str) -> Model | None:
    return session.scalar(select(Model).where(Model.job_id == job_id))


def models_built_on(session: Session, *, model_id: str) -> list[str]:
    """The models whose backbone is this model (they load it whenever they load)."""
    query = select(Model.id).where(Model.backbone["model_id"].as_string() == model_id)
    return list(session.scalars(query.order_by(Model.created_at)))


def active_jobs_using(
    session: Session, *, model_id: str | None = None, dataset_id: str | None = None,
    credentials_id: str | None = None,
) -> list[Job]:  # fmt: skip
    """Queued or running jobs whose spec names this model as backbone, this upload, or keys."""
    query = select(Job).where(Job.status.in_(ACTIVE))
    if model_id is not None:
        query = query.where(Job.spec["backbone"]["model_id"].as_string() == model_id)
    if dataset_id is not None:
        query = query.where(Job.spec["dataset"]["upload_id"].as_string() == dataset_id)
    if credentials_id is not None:
        query = query.where(Job.spec["dataset"]["credentials_id"].as_string() == credentials_id)
    return list(session.scalars(query.order_by(Job.created_at)))


def put_blob(session: Session, *, key: str, data: bytes) -> Blob:
    """Store (or replace) a blob."""
    blob = session.get(Blob, key)
    digest = hashlib.sha256(data).hexdigest()
    if blob is None:
        blob = Blob(key=key, data=data, size=len(data), sha256=digest)
        session.add(blob)
    else:
        blob.data, blob.size, blob.sha256 = data, len(data), digest
    session.flush()
    return blob


def get_blob(session: Session, *, key: str) -> Blob | None:
    return session.get(Blob, key)


def delete_blobs(session: Session, *, prefix: str) -> None:
    session.execute(delete(Blob).where(Blob.key.startswith(prefix)))


def storage_use(session: Session, *, owner_id: str) -> dict[str, tuple[int, int]]:
    """(count, bytes) of the owner's uploaded datasets and of their models' artifacts."""
    uploads = session.execute(
        select(func.count(), func.coalesce(func.sum(Dataset.size_bytes), 0)).where(
            Dataset.owner_id == owner_id
        )
    ).one()
    models = session.execute(
        select(func.count(), func.coalesce(func.sum(Model.artifact_bytes), 0)).where(
            Model.owner_id == owner_id
        )
    ).one()
    return {
        "datasets": (int(uploads[0]), int(uploads[1])),
        "models": (int(models[0]), int(models[1])),
    }


def storage_by_owner(session: Session) -> list[tuple[str, str, int, int]]:
    """(owner name, kind, count, bytes) of every owner's uploads and models (for /metrics)."""
    rows: list[tuple[str, str, int, int]] = []
    for kind, table, size in (("datasets", Dataset, Dataset.size_bytes),
                              ("models", Model, Model.artifact_bytes)):  # fmt: skip
        query = (
            select(Owner.name, func.count(), func.coalesce(func.sum(size), 0))
            .join(table, table.owner_id == Owner.id)
            .group_by(Owner.name)
        )
        rows += [(name, kind, int(n), int(total)) for name, n, total in session.execute(query)]
    return rows
