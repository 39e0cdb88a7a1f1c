"""Uploaded datasets: an archive checked by the engine's rules, stored once, fetched anywhere."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from config.settings import Settings
from db import objects as db_objects
from db import resources
from db.models import Dataset, new_id
from reprogramming.data.archives import ArchiveError, extract_image_folder
from reprogramming.hashing import file_sha256
from services.errors import Conflict, Invalid, ServiceError
from services.owned import owned
from storage import objects


def new_upload(settings: Settings) -> tuple[str, Path]:
    """An id and an empty folder for an upload that is about to arrive."""
    dataset_id = new_id("ds")
    folder = settings.data_dir / "uploads" / dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    return dataset_id, folder


def check_archive(archive: Path) -> tuple[list[str], int]:
    """Run the engine's archive rules on a scratch extraction; (classes, image count)."""
    scratch = Path(tempfile.mkdtemp(prefix="reprogram-upload-"))
    try:
        folder = extract_image_folder(archive, scratch / "x")  # checks each image once
        return folder.classes, len(folder.paths)
    except ArchiveError as exc:
        code = f"invalid_archive:{exc.rule}" if exc.rule else "invalid_archive"
        raise Invalid(code, str(exc), field="file") from None
    except ValueError as exc:  # other invalid content the engine refuses
        raise Invalid("invalid_archive", str(exc), field="file") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def register(
    session: Session, *, settings: Settings, owner_id: str, dataset_id: str, archive: Path,
    filename: str | None, size: int,
) -> Dataset:  # fmt: skip
    """Check an uploaded archive, store it for every machine, and record the owner's dataset.

    The upload's folder is removed either way; this machine keeps the archive in its cache.
    """
    try:
        classes, count = check_archive(archive)
        digest = file_sha256(archive)
        key = objects.put_file(session, settings=settings, source=archive, sha256=digest)
        objects.cache_file(archive, sha256=digest, cache_dir=_cache(settings))
    finally:
        shutil.rmtree(archive.parent, ignore_errors=True)
    dataset = Dataset(
        id=dataset_id, owner_id=owner_id, name=_printable(filename or "") or "upload",
        object_key=key, classes=classes, num_images=count, size_bytes=size, sha256=digest,
    )  # fmt: skip
    session.add(dataset)
    session.flush()
    return dataset


def get(session: Session, *, owner_id: str, dataset_id: str) -> Dataset:
    """One of the owner's uploads."""
    return owned(session, Dataset, owner_id=owner_id, id=dataset_id)


def archive_path(session: Session, *, settings: Settings, owner_id: str, dataset_id: str) -> Path:
    """This machine's copy of one of the owner's uploaded archives (fetched on first use)."""
    dataset = get(session, owner_id=owner_id, dataset_id=dataset_id)
    if dataset.object_key is None:  # uploaded before objects: on the API machine's disk
        return Path(dataset.path or "")
    try:
        return objects.local_copy(
            session, settings=settings, key=dataset.object_key, cache_dir=_cache(settings)
        )
    except objects.ObjectDamaged as exc:
        raise ServiceError("dataset_damaged", f"dataset '{dataset_id}': {exc}") from None


def _cache(settings: Settings) -> Path:
    """Where this machine keeps its copies of stored objects."""
    return settings.data_dir / "objects"


def _printable(name: str) -> str:
    """A file name fit to store and show: no control characters, at most 200 characters."""
    return "".join(ch for ch in name if ch.isprintable())[:200]


def delete(session: Session, *, settings: Settings, owner_id: str, dataset_id: str) -> None:
    """Delete one of the owner's uploads, and its bytes once no upload refers to them."""
    dataset = get(session, owner_id=owner_id, dataset_id=dataset_id)
    jobs_using = resources.active_jobs_using(session, dataset_id=dataset_id)
    if jobs_using:
        job = jobs_using[0]
        raise Conflict("dataset_in_use", f"dataset '{dataset_id}' is used by job '{job.id}' "
                       f"({job.status}); cancel it or wait for it to end")  # fmt: skip
    key = dataset.object_key
    session.delete(dataset)
    session.flush()
    if key is not None and not db_objects.object_in_use(session, key=key):
        objects.delete(session, settings=settings, key=key)
        objects.forget_local_copy(key=key, cache_dir=_cache(settings))
    elif key is None and dataset.path:  # an upload from before objects: a file on this disk
        shutil.rmtree(Path(dataset.path).parent, ignore_errors=True)
