"""An S3-compatible store of the test's own (a local moto_server) holding a small dataset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.datasets import shapes_zip
from support.s3 import s3_server


@dataclass(frozen=True)
class Store:
    """Where the store answers, and the uri of the archive in it (classes 'red' and 'blue')."""

    endpoint: str
    uri: str


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A moto server whose bucket holds the shapes archive (it takes any keys)."""
    import boto3

    bucket, key = "client-data", "sets/shapes.zip"
    with s3_server(tmp_path) as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="x",
                              aws_secret_access_key="x", region_name="us-east-1")  # fmt: skip
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key=key, Body=shapes_zip())
        yield Store(endpoint=endpoint, uri=f"s3://{bucket}/{key}")
