"""Models: the registry of finished jobs, their artifacts, and /predict."""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, cast

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import ApiError, not_found, responses
from api.uploads import memory_sink, read_multipart
from config.logs import describe, log_event
from config.settings import Settings
from db.models import Model
from db.repository import OwnedRepository
from db.session import database_unavailable, session_scope
from reprogramming.export import SUFFIX, ExportFormat, export_model
from reprogramming.serving import InvalidImageError, ModelServer, ServedModel
from services import models
from services.errors import NotFound, ServiceError
from storage.artifacts import ARTIFACT_FILES, get_store, model_directory

log = logging.getLogger("reprogram.api")

router = APIRouter(prefix="/v1/models", tags=["models"], responses=responses(401, 422, 503))


def _owned(session: Session, model_id: str, owner_id: str) -> Model:
    return models.get(session, owner_id=owner_id, model_id=model_id)


@router.get("", response_model=schemas.Page[schemas.Model])
def list_models(
    owner: OwnerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: str | None = None,
) -> schemas.Page[schemas.Model]:
    """The caller's models, newest first."""
    rows, next_cursor = OwnedRepository(session, Model, owner_id=owner.id).page(
        limit=limit, cursor=cursor
    )
    return schemas.page_of(schemas.Model, rows, next_cursor)


@router.get("/{model_id}", response_model=schemas.Model, responses=responses(404))
def get_model(model_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Model:
    """One model: labels, metrics (with test_accuracy), backbone."""
    return schemas.Model.model_validate(_owned(session, model_id, owner.id))


@router.delete("/{model_id}", status_code=204, responses=responses(404, 409))
def delete_model(
    model_id: str, request: Request, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """Delete a model and its artifact; 409 while another model or a running job builds on it.

    This process stops serving it at once; other API processes within model_recheck_s.
    """
    models.delete(session, settings=settings, owner_id=owner.id, model_id=model_id)
    session.commit()  # gone for everyone before it leaves this process's memory
    request.app.state.models.evict(model_id)
    return Response(status_code=204)


@router.get(
    "/{model_id}/artifact",
    responses={200: {"content": {"application/zip": {}, "application/json": {}}}, **responses(404)},
    response_class=Response,
)
def download_artifact(
    model_id: str,
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[str | None, Query(description="manifest.json or model.safetensors")] = None,
) -> Response:
    """The artifact: a zip of model.safetensors and manifest.json, or one of them (?file=)."""
    model = _owned(session, model_id, owner.id)
    store = get_store(settings, model.artifact_store)
    if file is not None:
        if file not in ARTIFACT_FILES:
            raise ApiError(422, "invalid_request", f"file is one of {list(ARTIFACT_FILES)}",
                           field="file")  # fmt: skip
        data = store.read_file(session, location=model.artifact_location, filename=file)
        if data is None:
            raise not_found("artifact file", file)
        media = "application/json" if file.endswith(".json") else "application/octet-stream"
        return StreamingResponse(
            _chunks(data), media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{file}"'},
        )  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in ARTIFACT_FILES:
            data = store.read_file(session, location=model.artifact_location, filename=name)
            if data is None:
                raise not_found("artifact file", name)
            archive.writestr(f"{model_id}/{name}", data)
    return StreamingResponse(
        _chunks(buffer.getvalue()), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{model_id}.zip"'},
    )  # fmt: skip


_exporting = threading.Lock()  # one export at a time: each takes seconds of every core


@router.get(
    "/{model_id}/export",
    responses={200: {"content": {"application/octet-stream": {}}}, **responses(404, 500)},
    response_class=FileResponse,
)
def export(
    model_id: str,
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[
        ExportFormat,
        Query(description="onnx (ONNX Runtime, Triton) or torchscript (torch.jit.load)"),
    ] = "onnx",
) -> FileResponse:
    """The whole model as one portable file: backbone, program or head, labels in its metadata.

    Input `images`: float32 NCHW RGB in [0, 1] at the model's input size; output
    `probabilities` over the model's labels (metadata key `labels`, and `reprogram` for the rest).
    """
    _owned(session, model_id, owner.id)
    path = settings.data_dir / "exports" / f"{model_id}{SUFFIX[format]}"
    if not path.exists():  # artifacts never change, so an export is made once per machine
        directory_of = _directories(settings, owner.id)
        failure = f"model {model_id} could not be exported as {format}"
        with _exporting, _named_failure("export_failed", failure, model_id=model_id):
            if not path.exists():
                export_model(
                    directory_of(model_id), path, format=format, resolve_model=directory_of
                )
    return FileResponse(
        path, media_type="application/octet-stream", filename=f"{model_id}{SUFFIX[format]}"
    )


def _chunks(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _decode_b64(text: str, index: int) -> bytes:
    """Standard or URL-safe base64, with or without padding or a data: URL prefix."""
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = "".join(text.split())
    padded = text + "=" * (-len(text) % 4)
    try:
        altchars = b"-_" if ("-" in text or "_" in text) else None
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            422, "invalid_image", f"images[{index}] is not base64", field=f"images.{index}"
        ) from None


@router.post(
    "/{model_id}/predict",
    response_model=schemas.PredictResponse,
    responses=responses(400, 404, 413, 415, 500),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "files": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            }
                        },
                        "required": ["files"],
                    }
                },
                "application/json": {"schema": schemas.PredictRequest.model_json_schema()},
            },
            "required": True,
        }
    },
)
async def predict(
    model_id: str,
    request: Request,
    owner: OwnerDep,
    settings: SettingsDep,
    top_k: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> schemas.PredictResponse:
    """Top-k labels for images sent as multipart `files` or as JSON base64 `images`."""
    images, k = await _read_images(request, settings, top_k)
    if len(images) > settings.max_predict_images:
        raise ApiError(413, "too_many_images", f"send at most {settings.max_predict_images} images")
    server: ModelServer = request.app.state.models
    served = server.get(model_id)
    if served is not None and served.tag == owner.id and _due_for_recheck(model_id, settings):
        await anyio.to_thread.run_sync(_still_there, server, model_id, owner.id, settings)
    if served is None or served.tag != owner.id:  # cold, or cached for someone else: ask the DB
        served = await anyio.to_thread.run_sync(_load, server, model_id, owner.id, settings)
    try:
        probs = await server.classify(served, images)
    except InvalidImageError as exc:
        raise ApiError(422, "invalid_image", f"image {exc.index}: {exc.message}",
                       field=f"files.{exc.index}") from None  # fmt: skip
    return schemas.PredictResponse(
        model_id=model_id,
        predictions=[
            schemas.ImagePrediction(
                top_k=[schemas.Score(label=p.label, score=p.score) for p in row]
            )
            for row in served.top_k(probs, k)
        ],
    )


async def _read_images(
    request: Request, settings: Any, top_k: int | None
) -> tuple[list[bytes], int]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > settings.max_predict_bytes * 4 // 3 + 1024:
                raise ApiError(413, "payload_too_large", "the request body is too large")
        try:
            body = schemas.PredictRequest.model_validate_json(bytes(raw) or b"null")
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            raise ApiError(
                422, "invalid_request", f"{field}: {first['msg']}", field=field
            ) from None
        return [_decode_b64(t, i) for i, t in enumerate(body.images)], top_k or body.top_k
    parts = await read_multipart(
        request, max_bytes=settings.max_predict_bytes, open_sink=memory_sink("files")
    )
    files = [cast(io.BytesIO, p.sink).getvalue() for p in parts if p.name == "files" and p.sink]
    if not files:
        raise ApiError(
            422, "invalid_request", "send images as multipart field 'files'", field="files"
        )
    return files, top_k or 5


def _directories(settings: Settings, owner_id: str) -> Callable[[str], Path]:
    """Resolves the owner's model ids (the model itself, any model it was built on) to artifacts."""

    def directory_of(id: str) -> Path:
        with session_scope(settings.sqlalchemy_url) as session:
            return model_directory(session, model=_owned(session, id, owner_id), settings=settings)

    return directory_of


# When this process last saw each resident model's row: a model deleted through another
# process stops answering here within model_recheck_s.
_checked: dict[str, float] = {}


def _due_for_recheck(model_id: str, settings: Settings) -> bool:
    return time.monotonic() - _checked.get(model_id, 0.0) > settings.model_recheck_s


def _still_there(server: ModelServer, model_id: str, owner_id: str, settings: Settings) -> None:
    """404 (and out of memory) if the model was deleted since this process last looked."""
    try:
        with session_scope(settings.sqlalchemy_url) as session:
            _owned(session, model_id, owner_id)
    except NotFound:
        server.evict(model_id)
        _checked.pop(model_id, None)
        raise
    _checked[model_id] = time.monotonic()


def _load(server: ModelServer, model_id: str, owner_id: str, settings: Settings) -> ServedModel:
    """The owner's model, loaded into the server (404 when it is not theirs or not there)."""
    directory_of = _directories(settings, owner_id)
    with session_scope(settings.sqlalchemy_url) as session:
        _owned(session, model_id, owner_id)
    _checked[model_id] = time.monotonic()
    # A missing or corrupt artifact: say so, and keep serving the other models.
    with _named_failure("model_load_failed", f"model {model_id} could not be loaded",
                        model_id=model_id):  # fmt: skip
        return server.load(
            model_id, lambda: directory_of(model_id), tag=owner_id, resolve_model=directory_of
        )


@contextlib.contextmanager
def _named_failure(code: str, message: str, **fields: Any) -> Iterator[None]:
    """Turn an unexpected failure into a logged 500 `code` that says what and why.

    Refusals (ServiceErrors) pass through, and an unreachable database stays the 503 the app makes of it.
    """
    try:
        yield
    except ServiceError:
        raise
    except Exception as exc:
        if database_unavailable(exc):
            raise
        log_event(log, message, level=logging.ERROR, error=describe(exc), **fields)
        raise ApiError(500, code, f"{message}: {describe(exc)}") from None
