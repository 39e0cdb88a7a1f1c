"""One JSON shape for every error: {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

import logging
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.schemas import Error
from config.logs import log_event
from db.session import database_unavailable
from reprogramming.spec import MethodSpec
from services.errors import NotFound, ServiceError
from services.specs import AutoMethodSpec

log = logging.getLogger("reprogram.api")

# What each error status means, for the OpenAPI document (every route lists the ones it returns).
STATUS_DESCRIPTIONS = {
    400: "Malformed request body (e.g. a broken multipart stream)",
    401: "Missing, unknown or revoked API key",
    404: "No such resource for this API key",
    409: "Conflicts with the resource's state or an earlier request",
    413: "Request body over the size limit",
    415: "Unsupported Content-Type",
    422: "Invalid parameters or body; `field` names the first offending field",
    500: "A model's artifact could not be loaded or exported; the message says why",
    503: "Database or broker unreachable; retry after `Retry-After` seconds",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI response entries for error statuses, each with the one error shape."""
    return {
        code: {"model": Error, "description": STATUS_DESCRIPTIONS[code]} for code in sorted(codes)
    }


def retry_after(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return str(getattr(settings, "retry_after_s", 5))


class ApiError(ServiceError):
    """An error of the HTTP layer itself (authentication, body limits, content types)."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(code, message, field=field)
        self.status, self.headers = status, headers


def not_found(kind: str, id: str) -> NotFound:
    """The answer for a resource that doesn't exist or belongs to someone else."""
    return NotFound(kind, id)


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


# The method kinds: pydantic puts the tag of a discriminated union into an error's location.
METHOD_KINDS = frozenset(
    variant.model_fields["kind"].default for variant in get_args(get_args(MethodSpec)[0])
) | {AutoMethodSpec.model_fields["kind"].default}


def _field(loc: tuple[Any, ...]) -> str:
    if len(loc) > 1 and loc[0] in ("query", "header", "path"):  # the parameter, not its item
        return str(loc[1])
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # method.linear_probe.input_size names the field the client wrote as method.input_size.
    if len(parts) > 2 and parts[0] == "method" and parts[1] in METHOD_KINDS:
        del parts[1]
    return ".".join(parts)


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app accepts at the request's path."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            allowed |= set(getattr(route, "methods", None) or ())
    return sorted(allowed)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one error shape."""

    @app.exception_handler(ServiceError)
    async def _refused(request: Request, exc: ServiceError) -> JSONResponse:
        headers = exc.headers if isinstance(exc, ApiError) else None
        return JSONResponse(
            body(exc.code, exc.message, exc.field), status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field(tuple(first.get("loc", ())))
        message = "; ".join(
            f"{_field(tuple(e.get('loc', ()))) or 'body'}: {e.get('msg')}" for e in errors[:5]
        )
        return JSONResponse(body("invalid_request", message, field or None), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 401: "unauthorized", 404: "not_found",
                405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error")  # fmt: skip
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=headers)  # fmt: skip

    @app.exception_handler(sa_exc.DBAPIError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            log_event(log, "database unreachable", level=logging.WARNING, method=request.method,
                      path=request.url.path, error=type(exc).__name__)  # fmt: skip
            return JSONResponse(
                body("database_unavailable", "the database is unreachable; retry shortly"),
                status_code=503, headers={"Retry-After": retry_after(request)},
            )  # fmt: skip
        if isinstance(exc, sa_exc.DataError):  # a value the database refuses to store or compare
            return JSONResponse(
                body("invalid_request", "a value in the request cannot be stored"), status_code=422
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(body("internal_error", "internal server error"), status_code=500)
