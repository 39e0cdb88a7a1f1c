"""Content-addressed objects: chunked in the database or in S3, verified out, stored once."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from config.settings import Settings
from db.models import ObjectChunk, StoredObject
from db.session import session_scope
from storage import objects

SETTINGS = Settings(storage_url=None)


def test_an_object_round_trips_in_chunks_and_is_stored_once(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "archive"
    source.write_bytes(os.urandom(2 * objects.CHUNK_BYTES + 1234))  # three chunks
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with session_scope(database_url) as session:
        key = objects.put_file(session, settings=SETTINGS, source=source, sha256=digest)
        assert (
            objects.put_file(session, settings=SETTINGS, source=source, sha256=digest) == key
        )  # no second copy
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).where(ObjectChunk.key == key)) == 3
        assert session.get(StoredObject, key).chunks == 3  # type: ignore[union-attr]
        copy = objects.local_copy(session, settings=SETTINGS, key=key, cache_dir=tmp_path / "cache")
    assert copy.read_bytes() == source.read_bytes() and copy.name == digest

    # A missing chunk (or a missing object) is named, and leaves no partial copy behind.
    copy.unlink()
    with session_scope(database_url) as session:
        session.execute(delete(ObjectChunk).where(ObjectChunk.key == key, ObjectChunk.seq == 1))
    with (
        session_scope(database_url) as session,
        pytest.raises(objects.ObjectDamaged, match="chunk 1"),
    ):
        objects.local_copy(session, settings=SETTINGS, key=key, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").rglob("*")) == [copy.parent]
    with (
        session_scope(database_url) as session,
        pytest.raises(objects.ObjectDamaged, match="missing"),
    ):
        objects.local_copy(
            session, settings=SETTINGS, key="sha256/" + "0" * 64, cache_dir=tmp_path / "cache"
        )


def test_concurrent_uploads_of_the_same_bytes_store_one_object(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "archive"
    source.write_bytes(os.urandom(1000))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    keys: list[str] = []

    def second_upload() -> None:
        with session_scope(database_url) as session:
            keys.append(objects.put_file(session, settings=SETTINGS, source=source, sha256=digest))

    with session_scope(database_url) as first:
        keys.append(objects.put_file(first, settings=SETTINGS, source=source, sha256=digest))
        racer = threading.Thread(target=second_upload)
        racer.start()  # its insert waits on the first's uncommitted row
        racer.join(timeout=1)
        assert racer.is_alive()
    racer.join(timeout=30)  # the first committed: the second finds the object and keeps it
    assert keys == [f"sha256/{digest}"] * 2
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).where(ObjectChunk.key == keys[0])) == 1


def test_an_object_round_trips_through_s3(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.s3 import CREDENTIALS, make_bucket, s3_server

    with s3_server(tmp_path) as endpoint:
        make_bucket(endpoint, "objects")
        for name, value in CREDENTIALS.items() | {("AWS_ENDPOINT_URL", endpoint)}:
            monkeypatch.setenv(name, value)
        settings = Settings(storage_url=f"s3://objects/t{os.getpid()}")
        source = tmp_path / "archive"
        source.write_bytes(os.urandom(objects.CHUNK_BYTES + 77))
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        with session_scope(database_url) as session:
            key = objects.put_file(session, settings=settings, source=source, sha256=digest)
        with session_scope(database_url) as session:
            stored = session.get(StoredObject, key)
            assert stored is not None and (stored.store, stored.chunks) == ("s3", 0)
            assert session.scalar(select(func.count()).where(ObjectChunk.key == key)) == 0
            copy = objects.local_copy(session, settings=settings, key=key, cache_dir=tmp_path / "c")
        assert copy.read_bytes() == source.read_bytes()
        with session_scope(database_url) as session:
            objects.delete(session, settings=settings, key=key)
        copy.unlink()
        with session_scope(database_url) as session, pytest.raises(objects.ObjectDamaged):
            objects.local_copy(session, settings=settings, key=key, cache_dir=tmp_path / "c")
