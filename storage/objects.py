"""Content-addressed objects (uploaded archives) in the database, and each machine's copies.

An object is stored once, in chunks, under `sha256/<digest>`; uploading the same archive twice
stores nothing new. A machine that needs one streams it into its own cache under the data
directory, checks the hash as the bytes arrive, and reuses the copy from then on. No machine
needs another's disk, and no archive is ever held whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import objects

CHUNK_BYTES = 4 * 2**20


class ObjectDamaged(Exception):
    """A stored object is incomplete or its bytes do not match its hash."""


def object_key(sha256: str) -> str:
    """The key of the object with this content hash."""
    return f"sha256/{sha256}"


def put_file(session: Session, *, source: Path, sha256: str) -> str:
    """Store a file (whose hash the caller computed) unless it is stored already; its key."""
    key = object_key(sha256)
    if objects.get_object(session, key=key) is not None:
        return key
    if session.get_bind().dialect.name == "sqlite":  # one writer at a time: no race to lose
        _write(session, key=key, source=source, sha256=sha256)
        return key
    try:
        with session.begin_nested():
            _write(session, key=key, source=source, sha256=sha256)
    except IntegrityError:  # a concurrent upload of the same bytes stored them first
        if objects.get_object(session, key=key) is None:
            raise
    return key


def _write(session: Session, *, key: str, source: Path, sha256: str) -> None:
    size = source.stat().st_size
    objects.add_object(session, key=key, size=size, sha256=sha256, chunks=-(-size // CHUNK_BYTES))
    with source.open("rb") as handle:
        for seq, data in enumerate(iter(lambda: handle.read(CHUNK_BYTES), b"")):
            objects.add_chunk(session, key=key, seq=seq, data=data)


def local_copy(session: Session, *, key: str, cache_dir: Path) -> Path:
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
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for seq in range(stored.chunks):
                data = objects.read_chunk(session, key=key, seq=seq)
                if data is None:
                    raise ObjectDamaged(f"stored object {key} lacks chunk {seq} of {stored.chunks}")
                digest.update(data)
                out.write(data)
        if digest.hexdigest() != stored.sha256:
            raise ObjectDamaged(f"stored object {key} does not match its sha256")
        os.replace(partial, target)  # whole and verified, or not there at all
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def cache_file(source: Path, *, sha256: str, cache_dir: Path) -> Path:
    """Move a file whose hash is known into this machine's cache (the uploader keeps a copy)."""
    target = cache_dir / sha256[:2] / sha256
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def forget_local_copy(*, key: str, cache_dir: Path) -> None:
    """Drop this machine's copy of a deleted object."""
    (cache_dir / key.removeprefix("sha256/")[:2] / key.removeprefix("sha256/")).unlink(
        missing_ok=True
    )
