"""Stored objects and their chunks: the queries behind the database object store."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from db.models import Dataset, ObjectChunk, StoredObject


def get_object(session: Session, *, key: str) -> StoredObject | None:
    return session.get(StoredObject, key)


def add_object(session: Session, *, key: str, size: int, sha256: str, store: str) -> StoredObject:
    """Record an object in the index (before its bytes, which refer to it)."""
    row = StoredObject(key=key, size=size, sha256=sha256, chunks=0, store=store)
    session.add(row)
    session.flush()
    return row


def add_chunk(session: Session, *, key: str, seq: int, data: bytes) -> None:
    # A Core insert: no ORM object keeps the bytes alive after the statement.
    session.execute(insert(ObjectChunk).values(key=key, seq=seq, data=data))


def read_chunk(session: Session, *, key: str, seq: int) -> bytes | None:
    return session.scalar(
        select(ObjectChunk.data).where(ObjectChunk.key == key, ObjectChunk.seq == seq)
    )


def delete_chunks(session: Session, *, key: str) -> None:
    session.execute(delete(ObjectChunk).where(ObjectChunk.key == key))


def delete_object(session: Session, *, key: str) -> None:
    """Remove an object from the index (its chunks go with it)."""
    delete_chunks(session, key=key)
    session.execute(delete(StoredObject).where(StoredObject.key == key))


def object_in_use(session: Session, *, key: str) -> bool:
    """Whether any dataset still refers to the object."""
    return session.scalar(select(Dataset.id).where(Dataset.object_key == key).limit(1)) is not None
