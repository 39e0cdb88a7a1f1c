"""Stored objects and their chunks: the queries behind the database object store."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from db.models import Dataset, ObjectChunk, StoredObject


def get_object(session: Session, *, key: str) -> StoredObject | None:
    return session.get(StoredObject, key)


def add_object(session: Session, *, key: str, size: int, sha256: str, chunks: int) -> None:
    """Record a complete object (after its chunks)."""
    session.add(StoredObject(key=key, size=size, sha256=sha256, chunks=chunks))
    session.flush()


def add_chunk(session: Session, *, key: str, seq: int, data: bytes) -> None:
    # A Core insert: no ORM object keeps the bytes alive after the statement.
    session.execute(insert(ObjectChunk).values(key=key, seq=seq, data=data))


def read_chunk(session: Session, *, key: str, seq: int) -> bytes | None:
    return session.scalar(
        select(ObjectChunk.data).where(ObjectChunk.key == key, ObjectChunk.seq == seq)
    )


def delete_object(session: Session, *, key: str) -> None:
    session.execute(delete(ObjectChunk).where(ObjectChunk.key == key))
    session.execute(delete(StoredObject).where(StoredObject.key == key))


def object_in_use(session: Session, *, key: str) -> bool:
    """Whether any dataset still refers to the object."""
    return session.scalar(select(Dataset.id).where(Dataset.object_key == key).limit(1)) is not None
