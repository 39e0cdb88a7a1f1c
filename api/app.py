"""The FastAPI application."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import errors, limits, metrics
from api.routes import (
    catalog,
    credentials,
    dashboard,
    datasets,
    health,
    jobs,
    models,
    sweeps,
    usage,
    webhooks,
    workers,
)
from config.logs import configure_logging
from config.settings import Settings, get_settings
from db import jobs as job_queries
from db import resources
from db.session import session_scope
from reprogramming import __version__
from reprogramming.serving import ModelServer

DESCRIPTION = """
Repurpose pretrained image classifiers for new tasks without changing their weights.

Authenticate with `Authorization: Bearer <key>` (`reprogram keys create NAME` prints one).
Every error has the shape `{"error": {"code", "message", "field"?}}`.
"""

_jobs_collector_registered = False


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema, with FastAPI's default 422 body replaced by our one error shape."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        text = json.dumps(schema).replace(
            "#/components/schemas/HTTPValidationError", "#/components/schemas/Error"
        )
        schema = json.loads(text)
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.models.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app (settings default to the environment's)."""
    global _jobs_collector_registered
    settings = settings or get_settings()
    if not logging.getLogger().handlers:  # a host that configured logging keeps its own
        configure_logging(settings)
    app = FastAPI(
        title="Reprogram", version=__version__, description=DESCRIPTION, lifespan=_lifespan
    )
    app.state.settings = settings
    app.state.models = ModelServer(
        budget_bytes=settings.model_cache_bytes,
        max_batch=settings.predict_max_batch,
        max_wait_ms=settings.predict_max_wait_ms,
        batching=settings.predict_batching,
        precision=settings.predict_precision,
        device=settings.predict_device,
        observer=metrics.ServingMetrics(),
    )
    errors.install(app)
    # /predict takes JSON with base64 images under a cap of its own.
    app.add_middleware(
        limits.JsonBodyLimit, max_bytes=settings.max_json_bytes, exempt=("/predict",)
    )
    app.add_middleware(metrics.MetricsMiddleware)
    for module in (health, catalog, credentials, datasets, jobs, models, sweeps, usage, webhooks,
                   workers):  # fmt: skip
        app.include_router(module.router)
    dashboard.install(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    if not _jobs_collector_registered:
        url = settings.sqlalchemy_url

        def count() -> dict[str, int]:
            with session_scope(url) as session:
                return job_queries.count_by_status(session)

        def storage() -> list[tuple[str, str, int, int]]:
            with session_scope(url) as session:
                return resources.storage_by_owner(session)

        metrics.REGISTRY.register(metrics.JobsByStatus(count))
        metrics.REGISTRY.register(metrics.StorageByOwner(storage))
        metrics.REGISTRY.register(metrics.SERVED_MODELS)
        _jobs_collector_registered = True
    metrics.SERVED_MODELS.server = app.state.models  # the process's newest app is the one served
    return app
