"""What the caller stores: uploads and models, counted and sized."""

from __future__ import annotations

from fastapi import APIRouter

from api import schemas
from api.deps import OwnerDep, SessionDep
from api.errors import responses
from services.usage import storage_use

router = APIRouter(prefix="/v1/usage", tags=["usage"], responses=responses(401, 503))


@router.get("", response_model=schemas.Usage)
def usage(owner: OwnerDep, session: SessionDep) -> schemas.Usage:
    """The caller's stored uploads and models: how many, and how many bytes."""
    use = storage_use(session, owner_id=owner.id)
    return schemas.Usage(
        datasets=schemas.Stored(count=use["datasets"][0], bytes=use["datasets"][1]),
        models=schemas.Stored(count=use["models"][0], bytes=use["models"][1]),
    )
