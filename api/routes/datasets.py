"""Dataset uploads: an image-folder archive, streamed to disk under a cap, checked and stored."""

from __future__ import annotations

import shutil
from typing import IO

import anyio
from fastapi import APIRouter, Request, Response

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import ApiError, responses
from api.uploads import read_multipart
from db.models import Dataset
from services import datasets

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.delete("/{dataset_id}", status_code=204, responses=responses(401, 404, 409, 503))
def delete_dataset(
    dataset_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """Delete an upload and its stored bytes; 409 while a queued or running job uses it."""
    datasets.delete(session, settings=settings, owner_id=owner.id, dataset_id=dataset_id)
    return Response(status_code=204)


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
    dataset_id, folder = datasets.new_upload(settings)
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
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def register() -> Dataset:  # reads and hashes the whole archive: off the event loop
        return datasets.register(
            session, settings=settings, owner_id=owner.id, dataset_id=dataset_id,
            archive=archive, filename=upload.filename, size=upload.size,
        )  # fmt: skip

    dataset = await anyio.to_thread.run_sync(register)
    return schemas.Dataset.model_validate(dataset)
