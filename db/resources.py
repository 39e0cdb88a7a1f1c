"""Models and blobs: the queries behind the model registry and artifact storage."""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import Blob, Model


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
