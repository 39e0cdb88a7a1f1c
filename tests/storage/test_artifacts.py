"""Artifacts and checkpoints in both stores, and the local read cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from db.session import session_scope
from storage.artifacts import DatabaseStore, DirectoryStore, materialize


@pytest.mark.parametrize("kind", ["database", "directory"])
def test_round_trip(kind: str, database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", artifact_store=kind,
                        artifact_dir=tmp_path / "shared")  # fmt: skip
    store = DatabaseStore() if kind == "database" else DirectoryStore(tmp_path / "shared")
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
