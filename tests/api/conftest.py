from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.client import Api
from support.services import Service


def _client(service: Service, owner: str) -> Iterator[Api]:
    key = service.create_key(owner)
    with Api(base_url=service.api_url, headers={"Authorization": f"Bearer {key}"},
             timeout=120) as client:  # fmt: skip
        yield client


@pytest.fixture(scope="session")
def alice(service: Service) -> Iterator[Api]:
    yield from _client(service, "alice")


@pytest.fixture(scope="session")
def bob(service: Service) -> Iterator[Api]:
    yield from _client(service, "bob")
