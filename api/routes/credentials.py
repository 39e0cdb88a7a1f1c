"""Credentials: an owner's keys to S3-compatible stores, for datasets named by uri."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import schemas
from api.deps import OwnerDep, SessionDep
from api.errors import responses
from services import credentials

router = APIRouter(
    prefix="/v1/credentials", tags=["credentials"], responses=responses(401, 422, 503)
)


@router.post("", status_code=201, response_model=schemas.Credential, responses=responses(400))
def create_credential(
    body: schemas.CredentialCreate, owner: OwnerDep, session: SessionDep
) -> schemas.Credential:
    """Keep keys that this owner's jobs may read datasets with; the secret is never returned."""
    row = credentials.create(session, owner_id=owner.id, **body.model_dump())
    return schemas.Credential.of(row)


@router.get("", response_model=schemas.CredentialList)
def list_credentials(owner: OwnerDep, session: SessionDep) -> schemas.CredentialList:
    """The caller's credentials (without their secrets)."""
    rows = credentials.list_credentials(session, owner_id=owner.id)
    return schemas.CredentialList(data=[schemas.Credential.of(r) for r in rows])


@router.get("/{credential_id}", response_model=schemas.Credential, responses=responses(404))
def get_credential(credential_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Credential:
    """One credential: its store and when a job last used it."""
    row = credentials.get(session, owner_id=owner.id, credential_id=credential_id)
    return schemas.Credential.of(row)


@router.delete("/{credential_id}", status_code=204, responses=responses(404, 409))
def delete_credential(credential_id: str, owner: OwnerDep, session: SessionDep) -> Response:
    """Forget a credential (refused while a queued or running job needs it)."""
    credentials.delete(session, owner_id=owner.id, credential_id=credential_id)
    return Response(status_code=204)
