"""Owners and their API keys (only a hash of each key is stored)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import ApiKey, Owner

KEY_PREFIX = "rp_"
# API processes keep a key's owner this long, so a busy client costs one lookup per KEY_TTL_S,
# not one per request; a revoked key therefore stops working within KEY_TTL_S.
KEY_TTL_S = 10.0


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, owner_name: str) -> tuple[Owner, str]:
    """A new API key for the named owner (created if new); the key is returned only here."""
    owner = session.scalar(select(Owner).where(Owner.name == owner_name))
    if owner is None:
        owner = Owner(name=owner_name)
        session.add(owner)
        session.flush()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(owner_id=owner.id, key_hash=hash_key(key), prefix=key[:10]))
    session.flush()
    return owner, key


def owner_for_key(session: Session, *, key: str) -> Owner | None:
    """The owner of a valid, unrevoked key."""
    return session.scalar(
        select(Owner)
        .join(ApiKey, ApiKey.owner_id == Owner.id)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked.is_(False))
    )


def list_keys(session: Session, *, owner_name: str | None = None) -> list[tuple[ApiKey, Owner]]:
    """Every key (or one owner's), oldest first, with its owner; never the keys themselves."""
    query = select(ApiKey, Owner).join(Owner, ApiKey.owner_id == Owner.id)
    if owner_name is not None:
        query = query.where(Owner.name == owner_name)
    return [(key, owner) for key, owner in session.execute(query.order_by(ApiKey.created_at))]


def find_keys(session: Session, *, id_or_prefix: str) -> list[ApiKey]:
    """The keys with this id or this shown prefix (e.g. 'rp_AbC1234', as `keys list` prints it)."""
    text = id_or_prefix.rstrip("…")
    return list(
        session.scalars(select(ApiKey).where(or_(ApiKey.id == text, ApiKey.prefix == text)))
    )
