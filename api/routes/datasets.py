"""Dataset uploads: an image-folder archive, streamed to disk, capped, checked by the engine."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import IO

import anyio
from fastapi import APIRouter, Request

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import ApiError, responses
from api.uploads import read_multipart
from db.models import Dataset, new_id
from reprogramming.hashing import file_sha256

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


def _validate(archive: Path) -> tuple[list[str], int]:
    """Run the engine's archive rules on a scratch extraction; (classes, image count)."""
    from reprogramming.data.archives import extract_archive, scan_image_folder

    scratch = Path(tempfile.mkdtemp(prefix="reprogram-upload-"))
    try:
        root = extract_archive(archive, scratch / "x")
        paths, _, classes = scan_image_folder(root)
        return classes, len(paths)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _printable(name: str) -> str:
    """A file name fit to store and show: no control characters, at most 200 characters."""
    return "".join(ch for ch in name if ch.isprintable())[:200]


@router.post(
    "",
    status_code=201,
    response_model=schemas.Dataset,
    responses=responses(400, 401, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    },
)
async def upload_dataset(
    request: Request, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Dataset:
    """Upload a zip or tar.gz with one folder per class (multipart field `file`)."""
    dataset_id = new_id("ds")
    folder = settings.data_dir / "uploads" / dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "archive"
    sink: IO[bytes] | None = None

    def open_sink(name: str, filename: str | None) -> IO[bytes] | None:
        nonlocal sink
        if name != "file" or sink is not None:
            return None
        sink = archive.open("wb")
        return sink

    try:
        try:
            parts = await read_multipart(
                request, max_bytes=settings.max_upload_bytes, open_sink=open_sink
            )
        finally:
            if sink is not None:
                sink.close()
        upload = next((p for p in parts if p.name == "file"), None)
        if upload is None:
            raise ApiError(422, "invalid_request", "send the archive in multipart field 'file'",
                           field="file")  # fmt: skip
        try:
            classes, count = await anyio.to_thread.run_sync(_validate, archive)
        except ValueError as exc:  # ArchiveError and other invalid input
            rule = getattr(exc, "rule", None)
            raise ApiError(422, f"invalid_archive{':' + rule if rule else ''}", str(exc),
                           field="file") from None  # fmt: skip
        digest = await anyio.to_thread.run_sync(file_sha256, archive)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    dataset = Dataset(
        id=dataset_id,
        owner_id=owner.id,
        name=_printable(upload.filename or "") or "upload",
        path=str(archive),
        classes=classes,
        num_images=count,
        size_bytes=upload.size,
        sha256=digest,
    )
    session.add(dataset)
    session.flush()
    return schemas.Dataset.model_validate(dataset)
