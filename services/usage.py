"""What each owner stores, for the API and for capacity planning."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db import resources


def storage_use(session: Session, *, owner_id: str) -> dict[str, tuple[int, int]]:
    """The owner's stored data by kind: (count, bytes) of uploads and of models."""
    return resources.storage_use(session, owner_id=owner_id)
