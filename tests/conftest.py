"""Session-wide fixtures: an isolated data directory and small real datasets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Caches and downloads for the whole test session, away from the user's own."""
    path = tmp_path_factory.mktemp("reprogram-data")
    previous = os.environ.get("REPROGRAM_DATA_DIR")
    os.environ["REPROGRAM_DATA_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("REPROGRAM_DATA_DIR", None)
    else:
        os.environ["REPROGRAM_DATA_DIR"] = previous


@pytest.fixture(scope="session")
def service(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A running deployment: real Postgres, Redis, a Celery worker process and the API process."""
    from support.services import (
        Service,
        fresh_database,
        postgres_server,
        redis_server,
        service_env,
    )

    with postgres_server() as pg, fresh_database(pg) as database_url, redis_server() as redis:
        logs = tmp_path_factory.mktemp("service")
        env = service_env(
            data_dir=data_dir, database_url=database_url, broker_url=redis, queue="test",
            heartbeat_timeout_s=4, max_upload_bytes=2_000_000,
        )  # fmt: skip
        deployment = Service(env=env, data_dir=logs)
        try:
            deployment.start_worker()
            deployment.start_api()
            yield deployment
        finally:
            deployment.stop()


def _client(service, owner: str):  # type: ignore[no-untyped-def]
    """A client of the running service signed in as a new key of `owner`."""
    from support.client import Api

    key = service.create_key(owner)
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
             timeout=120) as client:  # fmt: skip
        yield client


@pytest.fixture(scope="session")
def alice(service):  # type: ignore[no-untyped-def]
    yield from _client(service, "alice")


@pytest.fixture(scope="session")
def bob(service):  # type: ignore[no-untyped-def]
    yield from _client(service, "bob")


@pytest.fixture(scope="session")
def database_url():  # type: ignore[no-untyped-def]
    """A fresh, migrated Postgres database (SQLAlchemy URL) for the persistence tests."""
    from support.services import fresh_database, postgres_server

    from config.settings import Settings

    with postgres_server() as server, fresh_database(server) as url:
        yield Settings(database_url=url).sqlalchemy_url
