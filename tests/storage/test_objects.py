"""Content-addressed objects in the database: chunked in, verified out, stored once."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from db.models import ObjectChunk, StoredObject
from db.session import session_scope
from storage import objects


def test_an_object_round_trips_in_chunks_and_is_stored_once(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "archive"
    source.write_bytes(os.urandom(2 * objects.CHUNK_BYTES + 1234))  # three chunks
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with session_scope(database_url) as session:
        key = objects.put_file(session, source=source, sha256=digest)
        assert objects.put_file(session, source=source, sha256=digest) == key  # no second copy
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).where(ObjectChunk.key == key)) == 3
        assert session.get(StoredObject, key).chunks == 3  # type: ignore[union-attr]
        copy = objects.local_copy(session, key=key, cache_dir=tmp_path / "cache")
    assert copy.read_bytes() == source.read_bytes() and copy.name == digest

    # A missing chunk (or a missing object) is named, and leaves no partial copy behind.
    copy.unlink()
    with session_scope(database_url) as session:
        session.execute(delete(ObjectChunk).where(ObjectChunk.key == key, ObjectChunk.seq == 1))
    with (
        session_scope(database_url) as session,
        pytest.raises(objects.ObjectDamaged, match="chunk 1"),
    ):
        objects.local_copy(session, key=key, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").rglob("*")) == [copy.parent]
    with (
        session_scope(database_url) as session,
        pytest.raises(objects.ObjectDamaged, match="missing"),
    ):
        objects.local_copy(session, key="sha256/" + "0" * 64, cache_dir=tmp_path / "cache")


def test_concurrent_uploads_of_the_same_bytes_store_one_object(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "archive"
    source.write_bytes(os.urandom(1000))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    keys: list[str] = []

    def second_upload() -> None:
        with session_scope(database_url) as session:
            keys.append(objects.put_file(session, source=source, sha256=digest))

    with session_scope(database_url) as first:
        keys.append(objects.put_file(first, source=source, sha256=digest))
        racer = threading.Thread(target=second_upload)
        racer.start()  # its insert waits on the first's uncommitted row
        racer.join(timeout=1)
        assert racer.is_alive()
    racer.join(timeout=30)  # the first committed: the second finds the object and keeps it
    assert keys == [f"sha256/{digest}"] * 2
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).where(ObjectChunk.key == keys[0])) == 1
