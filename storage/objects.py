"""Content-addressed objects (uploaded archives) in a shared store, and each machine's copies.

An object is stored once, under `sha256/<digest>`; uploading the same archive twice stores
nothing new. Its row in `objects` (the index, always in the database) says which store holds the
bytes: the database itself, in chunks (the default), or an S3-compatible object store
(`REPROGRAM_STORAGE_URL=s3://bucket/prefix`). A machine that needs an object streams it into its
own cache under the data directory, checks the hash as the bytes arrive, and reuses the copy
from then on. No machine needs another's disk, and no archive is ever held whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import Settings
from db import objects
from db.models import StoredObject

CHUNK_BYTES = 4 * 2**20


class ObjectDamaged(Exception):
    """A stored object is missing, incomplete, or its bytes do not match its hash."""


class Backend(Protocol):
    """Where the bytes of objects live."""

    name: str

    def write(self, session: Session, *, key: str, source: Path) -> int:
        """Store a file's bytes under key; how many chunks (0 where the store keeps files whole)."""
        ...

    def read(self, session: Session, *, stored: StoredObject) -> Iterator[bytes]:
        """The object's bytes, piece by piece."""
        ...

    def remove(self, session: Session, *, key: str) -> None: ...


class DatabaseBackend:
    """Chunks beside the index: an API and its workers need nothing but Postgres and Redis."""

    name = "database"

    def write(self, session: Session, *, key: str, source: Path) -> int:
        with source.open("rb") as handle:
            chunks = iter(lambda: handle.read(CHUNK_BYTES), b"")
            for seq, data in enumerate(chunks):
                objects.add_chunk(session, key=key, seq=seq, data=data)
        return -(-source.stat().st_size // CHUNK_BYTES)

    def read(self, session: Session, *, stored: StoredObject) -> Iterator[bytes]:
        for seq in range(stored.chunks):
            data = objects.read_chunk(session, key=stored.key, seq=seq)
            if data is None:
                raise ObjectDamaged(
                    f"stored object {stored.key} lacks chunk {seq} of {stored.chunks}"
                )
            yield data

    def remove(self, session: Session, *, key: str) -> None:
        objects.delete_chunks(session, key=key)


class S3Backend:
    """An S3-compatible bucket (AWS_ENDPOINT_URL and the usual AWS_* credential variables)."""

    name = "s3"

    def __init__(self, url: str) -> None:
        import boto3  # only deployments that use S3 need it

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(
                f"REPROGRAM_STORAGE_URL must look like s3://bucket/prefix, not {url!r}"
            )
        self.bucket, self.prefix = parts.netloc, parts.path.strip("/")
        self.client: Any = boto3.client("s3")

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def write(self, session: Session, *, key: str, source: Path) -> int:
        self.client.upload_file(str(source), self.bucket, self._name(key))  # multipart, streamed
        return 0

    def read(self, session: Session, *, stored: StoredObject) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._name(stored.key))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise ObjectDamaged(f"stored object {stored.key} is missing from the bucket") from None
        yield from body.iter_chunks(CHUNK_BYTES)

    def remove(self, session: Session, *, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))


_s3: dict[str, S3Backend] = {}


def backend(settings: Settings, name: str | None = None) -> Backend:
    """The store of this name (default: where the settings put new objects)."""
    name = name or ("s3" if settings.storage_url else "database")
    if name == "database":
        return DatabaseBackend()
    if not settings.storage_url:
        raise ObjectDamaged("an object is in S3, but REPROGRAM_STORAGE_URL is not set here")
    if settings.storage_url not in _s3:
        _s3[settings.storage_url] = S3Backend(settings.storage_url)
    return _s3[settings.storage_url]


def object_key(sha256: str) -> str:
    """The key of the object with this content hash."""
    return f"sha256/{sha256}"


def put_file(session: Session, *, settings: Settings, source: Path, sha256: str) -> str:
    """Store a file (whose hash the caller computed) unless it is stored already; its key."""
    key = object_key(sha256)
    if objects.get_object(session, key=key) is not None:
        return key
    store = backend(settings)
    if session.get_bind().dialect.name == "sqlite":  # one writer at a time: no race to lose
        _write(session, store=store, key=key, source=source, sha256=sha256)
        return key
    try:
        with session.begin_nested():
            _write(session, store=store, key=key, source=source, sha256=sha256)
    except IntegrityError:  # a concurrent upload of the same bytes stored them first
        if objects.get_object(session, key=key) is None:
            raise
    return key


def _write(session: Session, *, store: Backend, key: str, source: Path, sha256: str) -> None:
    size = source.stat().st_size
    row = objects.add_object(session, key=key, size=size, sha256=sha256, store=store.name)
    row.chunks = store.write(session, key=key, source=source)
    session.flush()


def local_copy(session: Session, *, settings: Settings, key: str, cache_dir: Path) -> Path:
    """This machine's copy of an object, fetched and verified on first use."""
    stored = objects.get_object(session, key=key)
    if stored is None:
        raise ObjectDamaged(f"stored object {key} is missing")
    target = cache_dir / stored.sha256[:2] / stored.sha256
    if target.is_file() and target.stat().st_size == stored.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{stored.sha256[:12]}-")
    try:
        with os.fdopen(handle, "wb") as out:
            _copy_verified(backend(settings, stored.store).read(session, stored=stored), out,
                           stored=stored)  # fmt: skip
        os.replace(partial, target)  # whole and verified, or not there at all
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def _copy_verified(pieces: Iterator[bytes], out: IO[bytes], *, stored: StoredObject) -> None:
    digest, size = hashlib.sha256(), 0
    for data in pieces:
        digest.update(data)
        size += len(data)
        out.write(data)
    if size != stored.size or digest.hexdigest() != stored.sha256:
        raise ObjectDamaged(f"stored object {stored.key} does not match its sha256")


def delete(session: Session, *, settings: Settings, key: str) -> None:
    """Remove an object's bytes from its store, and its row."""
    stored = objects.get_object(session, key=key)
    if stored is not None:
        backend(settings, stored.store).remove(session, key=key)
        objects.delete_object(session, key=key)


def cache_file(source: Path, *, sha256: str, cache_dir: Path) -> Path:
    """Move a file whose hash is known into this machine's cache (the uploader keeps a copy)."""
    target = cache_dir / sha256[:2] / sha256
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def forget_local_copy(*, key: str, cache_dir: Path) -> None:
    """Drop this machine's copy of a deleted object."""
    digest = key.removeprefix("sha256/")
    (cache_dir / digest[:2] / digest).unlink(missing_ok=True)
