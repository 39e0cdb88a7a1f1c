"""Artifact and checkpoint storage: in the database by default, or in a directory.

Every machine keeps a local read cache of the artifacts it has used, so models load from disk.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from config.settings import Settings
from db import resources
from db.models import Model


class ArtifactStore(Protocol):
    """Where finished artifacts and in-flight checkpoints live."""

    name: str

    def put_artifact(self, session: Session, *, model_id: str, source: Path) -> tuple[str, int]:
        """Store an artifact directory; return (location, total bytes)."""
        ...

    def read_file(self, session: Session, *, location: str, filename: str) -> bytes | None:
        """One file of a stored artifact."""
        ...

    def put_checkpoint(self, session: Session, *, job_id: str, source: Path) -> None: ...

    def get_checkpoint(self, session: Session, *, job_id: str, dest: Path) -> bool: ...

    def delete_checkpoint(self, session: Session, *, job_id: str) -> None: ...

    def delete_artifact(self, session: Session, *, location: str) -> None:
        """Remove a stored artifact's files."""
        ...


ARTIFACT_FILES = ("manifest.json", "model.safetensors")
CHECKPOINT_FILE = "checkpoint.pt"


class DatabaseStore:
    """Blobs beside the model rows: API replicas and workers need only Postgres and Redis."""

    name = "database"

    def put_artifact(self, session: Session, *, model_id: str, source: Path) -> tuple[str, int]:
        total = 0
        for filename in ARTIFACT_FILES:
            data = (source / filename).read_bytes()
            resources.put_blob(session, key=f"artifacts/{model_id}/{filename}", data=data)
            total += len(data)
        return f"artifacts/{model_id}", total

    def read_file(self, session: Session, *, location: str, filename: str) -> bytes | None:
        blob = resources.get_blob(session, key=f"{location}/{filename}")
        return None if blob is None else bytes(blob.data)

    def put_checkpoint(self, session: Session, *, job_id: str, source: Path) -> None:
        data = (source / CHECKPOINT_FILE).read_bytes()
        resources.put_blob(session, key=f"checkpoints/{job_id}/{CHECKPOINT_FILE}", data=data)

    def get_checkpoint(self, session: Session, *, job_id: str, dest: Path) -> bool:
        blob = resources.get_blob(session, key=f"checkpoints/{job_id}/{CHECKPOINT_FILE}")
        if blob is None:
            return False
        dest.mkdir(parents=True, exist_ok=True)
        (dest / CHECKPOINT_FILE).write_bytes(bytes(blob.data))
        return True

    def delete_checkpoint(self, session: Session, *, job_id: str) -> None:
        resources.delete_blobs(session, prefix=f"checkpoints/{job_id}/")

    def delete_artifact(self, session: Session, *, location: str) -> None:
        resources.delete_blobs(session, prefix=f"{location}/")


class DirectoryStore:
    """Files under a directory (shared storage for large artifacts such as fine-tuned models)."""

    name = "directory"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put_artifact(self, session: Session, *, model_id: str, source: Path) -> tuple[str, int]:
        target = self.root / "artifacts" / model_id
        target.mkdir(parents=True, exist_ok=True)
        total = 0
        for filename in ARTIFACT_FILES:
            shutil.copyfile(source / filename, target / filename)
            total += (target / filename).stat().st_size
        return str(target), total

    def read_file(self, session: Session, *, location: str, filename: str) -> bytes | None:
        path = Path(location) / filename
        return path.read_bytes() if path.exists() else None

    def put_checkpoint(self, session: Session, *, job_id: str, source: Path) -> None:
        target = self.root / "checkpoints" / job_id
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / CHECKPOINT_FILE, target / CHECKPOINT_FILE)

    def get_checkpoint(self, session: Session, *, job_id: str, dest: Path) -> bool:
        path = self.root / "checkpoints" / job_id / CHECKPOINT_FILE
        if not path.exists():
            return False
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / CHECKPOINT_FILE)
        return True

    def delete_checkpoint(self, session: Session, *, job_id: str) -> None:
        shutil.rmtree(self.root / "checkpoints" / job_id, ignore_errors=True)

    def delete_artifact(self, session: Session, *, location: str) -> None:
        shutil.rmtree(location, ignore_errors=True)


class S3Store:
    """Objects in the S3-compatible store of REPROGRAM_STORAGE_URL, beside the uploads."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        from storage.objects import S3Backend, backend

        s3 = backend(settings, "s3")
        assert isinstance(s3, S3Backend)
        self.client, self.bucket, self.prefix = s3.client, s3.bucket, s3.prefix

    def _name(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _get(self, path: str) -> bytes | None:
        try:
            return bytes(
                self.client.get_object(Bucket=self.bucket, Key=self._name(path))["Body"].read()
            )
        except self.client.exceptions.NoSuchKey:
            return None

    def put_artifact(self, session: Session, *, model_id: str, source: Path) -> tuple[str, int]:
        total = 0
        for filename in ARTIFACT_FILES:
            self.client.upload_file(str(source / filename), self.bucket,
                                    self._name(f"artifacts/{model_id}/{filename}"))  # fmt: skip
            total += (source / filename).stat().st_size
        return f"artifacts/{model_id}", total

    def read_file(self, session: Session, *, location: str, filename: str) -> bytes | None:
        return self._get(f"{location}/{filename}")

    def put_checkpoint(self, session: Session, *, job_id: str, source: Path) -> None:
        self.client.upload_file(str(source / CHECKPOINT_FILE), self.bucket,
                                self._name(f"checkpoints/{job_id}/{CHECKPOINT_FILE}"))  # fmt: skip

    def get_checkpoint(self, session: Session, *, job_id: str, dest: Path) -> bool:
        data = self._get(f"checkpoints/{job_id}/{CHECKPOINT_FILE}")
        if data is None:
            return False
        dest.mkdir(parents=True, exist_ok=True)
        (dest / CHECKPOINT_FILE).write_bytes(data)
        return True

    def delete_checkpoint(self, session: Session, *, job_id: str) -> None:
        self.client.delete_object(Bucket=self.bucket,
                                  Key=self._name(f"checkpoints/{job_id}/{CHECKPOINT_FILE}"))  # fmt: skip

    def delete_artifact(self, session: Session, *, location: str) -> None:
        for filename in ARTIFACT_FILES:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(f"{location}/{filename}"))


def get_store(settings: Settings, kind: str | None = None) -> ArtifactStore:
    """The store of the given kind (default: the one the settings choose for new artifacts)."""
    kind = kind or settings.artifact_store
    if kind == "directory":
        return DirectoryStore(settings.artifact_dir or settings.data_dir / "store")
    if kind == "s3":
        return S3Store(settings)
    return DatabaseStore()


def materialize(
    session: Session, *, model_id: str, store_name: str, location: str, settings: Settings
) -> Path:
    """A local directory holding the model's artifact (this machine's read cache)."""
    target = settings.data_dir / "artifact-cache" / model_id
    if all((target / f).exists() for f in ARTIFACT_FILES):
        return target
    store = get_store(settings, store_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{model_id}-"))
    try:
        for filename in ARTIFACT_FILES:
            data = store.read_file(session, location=location, filename=filename)
            if data is None:
                raise FileNotFoundError(f"artifact file {filename} of {model_id} is missing")
            (staging / filename).write_bytes(data)
        try:
            staging.rename(target)  # atomic; whoever renames first wins
        except OSError:
            if not all((target / f).exists() for f in ARTIFACT_FILES):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def model_directory(session: Session, *, model: Model, settings: Settings) -> Path:
    """The local directory of a registered model's artifact."""
    return materialize(
        session,
        model_id=model.id,
        store_name=model.artifact_store,
        location=model.artifact_location,
        settings=settings,
    )


def forget_local_copy(settings: Settings, *, model_id: str) -> None:
    """Drop this machine's cached copy of a deleted model's artifact."""
    shutil.rmtree(settings.data_dir / "artifact-cache" / model_id, ignore_errors=True)
