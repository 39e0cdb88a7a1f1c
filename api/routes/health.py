"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api import schemas
from api.deps import SettingsDep
from api.metrics import REGISTRY
from config.logs import describe
from config.settings import Settings
from db.session import get_engine
from messaging.broker import broker_problem

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=schemas.Health)
def healthz() -> schemas.Health:
    """The process is up."""
    return schemas.Health(status="ok")


def _database_problem(settings: Settings) -> str | None:
    """Why the database can't be reached, or None when it answers."""
    try:
        with get_engine(settings.sqlalchemy_url).connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return describe(exc)


@router.get(
    "/readyz",
    response_model=schemas.Health,
    responses={503: {"model": schemas.Health, "description": "The database or broker is down"}},
)
async def readyz(settings: SettingsDep, response: Response) -> schemas.Health:
    """Whether the database and the broker are reachable (each check takes a few seconds at most)."""
    problems: dict[str, str | None] = {}

    async def check(name: str, probe: Callable[[Settings], str | None]) -> None:
        problems[name] = await anyio.to_thread.run_sync(probe, settings)

    async with anyio.create_task_group() as group:
        group.start_soon(check, "database", _database_problem)
        group.start_soon(check, "broker", broker_problem)
    checks = {name: "ok" if problems[name] is None else f"unreachable: {problems[name]}"
              for name in ("database", "broker")}  # fmt: skip
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = str(settings.retry_after_s)
    return schemas.Health(status="ok" if ready else "unavailable", checks=checks)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
