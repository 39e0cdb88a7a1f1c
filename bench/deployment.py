"""A private deployment for the benchmarks that go through the service: a Postgres and a
redis-server of their own (the fault tests' private servers), one worker and one API."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import fresh_data_dir  # noqa: E402
from support.client import Api  # noqa: E402
from support.faults import PrivatePostgres, PrivateRedis  # noqa: E402
from support.services import Service, service_env  # noqa: E402


@contextmanager
def private_service(queue: str, **settings: object) -> Iterator[Api]:
    """A client, with a key, of one API and one worker on private servers (all removed after)."""
    postgres, redis = PrivatePostgres(), PrivateRedis()
    try:
        with fresh_data_dir() as data:
            env = service_env(data_dir=data, database_url=postgres.create_database(queue),
                              broker_url=redis.url, queue=queue, **settings)  # fmt: skip
            side = Service(env=env, data_dir=data)
            try:
                side.start_worker()
                side.start_api()
                key = side.create_key("bench")
                with Api(base_url=side.api_url, timeout=60,
                         headers={"Authorization": f"Bearer {key}"}) as api:  # fmt: skip
                    yield api
            finally:
                side.stop()
    finally:
        redis.close()
        postgres.close()
