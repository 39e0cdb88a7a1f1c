"""One of an owner's rows by id, or the 404 every service gives for a missing or foreign one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import Credential, Dataset, Job, Model, Sweep, WebhookEndpoint
from db.repository import M, OwnedRepository
from services.errors import NotFound

_KINDS: dict[type, str] = {Job: "job", Dataset: "dataset", Model: "model",
                           WebhookEndpoint: "webhook", Credential: "credential", Sweep: "sweep"}  # fmt: skip


def owned(session: Session, model: type[M], *, owner_id: str, id: str) -> M:
    """The owner's row of `model` with this id (another owner's reads as missing)."""
    row = OwnedRepository(session, model, owner_id=owner_id).get(id)
    if row is None:
        raise NotFound(_KINDS[model], id)
    return row
