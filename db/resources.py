"""Datasets, models and blobs: the queries behind uploads, the model registry and artifacts."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import Blob, Dataset, Model, is_id
from db.paging import page


def get_owned(session: Session, model: Any, *, id: str, owner_id: str) -> Any | None:
    """A row of `model` by id if the owner owns it (another owner's row reads as missing)."""
    row = session.get(model, id) if is_id(id) else None
    return row if row is not None and row.owner_id == owner_id else None


def list_datasets(
    session: Session, *, owner_id: str, limit: int, cursor: str | None
) -> tuple[list[Dataset], str | None]:
    query = select(Dataset).where(Dataset.owner_id == owner_id)
    return page(session, query, Dataset, limit=limit, cursor=cursor, owner_id=owner_id)


def list_models(
    session: Session, *, owner_id: str, limit: int, cursor: str | None
) -> tuple[list[Model], str | None]:
    query = select(Model).where(Model.owner_id == owner_id)
    return page(session, query, Model, limit=limit, cursor=cursor, owner_id=owner_id)


def model_for_job(session: Session, *, job_id: str) -> Model | None:
    return session.scalar(select(Model).where(Model.job_id == job_id))


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
