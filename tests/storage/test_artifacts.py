"""Artifacts and checkpoints in both stores, and the local read cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from db.session import session_scope
from storage.artifacts import get_store, materialize


@pytest.fixture(params=["database", "directory", "s3"])
def kind(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A store kind; for s3, a local S3 server with the environment pointing at it."""
    if request.param != "s3":
        yield request.param
        return
    from support.s3 import CREDENTIALS, make_bucket, s3_server

    with s3_server(tmp_path) as endpoint:
        make_bucket(endpoint, "artifacts")
        for name, value in CREDENTIALS.items() | {("AWS_ENDPOINT_URL", endpoint)}:
            monkeypatch.setenv(name, value)
        yield "s3"


def test_round_trip(kind: str, database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", artifact_store=kind,  # type: ignore[arg-type]
                        artifact_dir=tmp_path / "shared",
                        storage_url=f"s3://artifacts/t{os.getpid()}" if kind == "s3" else None)  # fmt: skip
    store = get_store(settings)
    assert store.name == kind
    source = tmp_path / "artifact"
    source.mkdir()
    (source / "manifest.json").write_text('{"labels": ["a", "b"]}')
    (source / "model.safetensors").write_bytes(b"\x00" * 1000)
    (source / "checkpoint.pt").write_bytes(b"ckpt")
    with session_scope(database_url) as session:
        location, size = store.put_artifact(session, model_id=f"mdl_{kind}", source=source)
        store.put_checkpoint(session, job_id=f"job_{kind}", source=source)
    assert size == 1000 + len('{"labels": ["a", "b"]}')
    with session_scope(database_url) as session:
        local = materialize(session, model_id=f"mdl_{kind}", store_name=kind, location=location,
                            settings=settings)  # fmt: skip
        assert (local / "model.safetensors").read_bytes() == b"\x00" * 1000
        assert local.is_relative_to(settings.data_dir)  # this machine's read cache
        restored = tmp_path / "restored"
        assert store.get_checkpoint(session, job_id=f"job_{kind}", dest=restored)
        assert (restored / "checkpoint.pt").read_bytes() == b"ckpt"
        store.delete_checkpoint(session, job_id=f"job_{kind}")
        assert not store.get_checkpoint(session, job_id=f"job_{kind}", dest=tmp_path / "none")
