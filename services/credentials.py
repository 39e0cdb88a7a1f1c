"""An owner's keys to S3-compatible stores: kept per owner, never shown again, used only for
that owner's own jobs (a job names them by id; another owner's id reads as missing)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from db import resources
from db.models import Credential, utcnow
from db.repository import OwnedRepository
from services.errors import Conflict, Invalid
from services.owned import owned


@dataclass(frozen=True)
class Keys:
    """What a worker needs to read an object with an owner's credential (no database rows)."""

    credential_id: str
    access_key_id: str
    secret_access_key: str
    endpoint_url: str | None
    region: str | None

    def __repr__(self) -> str:  # never print the secret into a log or a traceback
        return f"Keys({self.credential_id}, access_key_id={self.access_key_id!r})"


def create(
    session: Session, *, owner_id: str, name: str, access_key_id: str, secret_access_key: str,
    endpoint_url: str | None = None, region: str | None = None,
) -> Credential:  # fmt: skip
    """Keep a new credential for the owner; its secret is never returned."""
    if endpoint_url is not None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid("invalid_request", "the endpoint_url must be http:// or https:// with "
                          "a host", field="endpoint_url")  # fmt: skip
    credential = Credential(
        owner_id=owner_id, name=name, kind="s3", access_key_id=access_key_id,
        secret_access_key=secret_access_key, endpoint_url=endpoint_url, region=region,
    )  # fmt: skip
    session.add(credential)
    session.flush()
    return credential


def get(session: Session, *, owner_id: str, credential_id: str) -> Credential:
    """One of the owner's credentials."""
    return owned(session, Credential, owner_id=owner_id, id=credential_id)


def list_credentials(session: Session, *, owner_id: str) -> list[Credential]:
    """The owner's credentials, oldest first."""
    query = OwnedRepository(session, Credential, owner_id=owner_id).readable()
    return list(session.scalars(query.order_by(Credential.created_at)))


def delete(session: Session, *, owner_id: str, credential_id: str) -> None:
    """Forget a credential no queued or running job still needs."""
    credential = get(session, owner_id=owner_id, credential_id=credential_id)
    using = resources.active_jobs_using(session, credentials_id=credential_id)
    if using:
        raise Conflict("credential_in_use", f"credential '{credential_id}' is used by job "
                       f"'{using[0].id}' ({using[0].status}); cancel it or wait for it to end")  # fmt: skip
    session.delete(credential)
    session.flush()


def keys_for(session: Session, *, owner_id: str, credential_id: str, field: str) -> Keys:
    """The owner's keys behind a credential id (marked used); another owner's id is refused."""
    credential = OwnedRepository(session, Credential, owner_id=owner_id).get(credential_id)
    if credential is None:
        raise Invalid("unknown_credential", f"no credential '{credential_id}'", field=field)
    credential.last_used_at = utcnow()
    return Keys(
        credential_id=credential.id, access_key_id=credential.access_key_id,
        secret_access_key=credential.secret_access_key, endpoint_url=credential.endpoint_url,
        region=credential.region,
    )  # fmt: skip
