"""Request-scoped dependencies: settings, a database session, and the caller's owner."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError
from db.models import Owner
from db.owners import KEY_TTL_S, hash_key, owner_for_key
from db.session import session_scope
from db.settings import Settings, get_settings


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


SettingsDep = Annotated[Settings, Depends(_settings)]


def _session(settings: SettingsDep) -> Iterator[Session]:
    """One session per request: committed when the route succeeds, rolled back when it fails."""
    with session_scope(settings.sqlalchemy_url) as session:
        yield session


SessionDep = Annotated[Session, Depends(_session)]


# Declares the scheme in the OpenAPI document; the checks and the 401 are ours.
_bearer = HTTPBearer(auto_error=False, description="An API key: `reprogram keys create NAME`")


def _owner(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Owner:
    """The owner of the request's API key."""
    # A session of its own: a long request (/predict, SSE) then holds no connection while it waits.
    key = credentials.credentials if credentials is not None else ""
    if not key:
        raise ApiError(
            401, "unauthorized", "send 'Authorization: Bearer <key>' (create one with "
            "'reprogram keys create NAME')", headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    owner = _cached_owner(key.strip(), settings.sqlalchemy_url)
    if owner is None:
        raise ApiError(
            401,
            "unauthorized",
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return owner


OwnerDep = Annotated[Owner, Depends(_owner)]

# Key → owner, kept for KEY_TTL_S (db.owners says why).
_keys: dict[str, tuple[Owner, float]] = {}


def _cached_owner(key: str, url: str) -> Owner | None:
    now = time.monotonic()
    digest = hash_key(key)  # the raw key is never kept
    hit = _keys.get(digest)
    if hit is not None and hit[1] > now:
        return hit[0]
    with session_scope(url) as session:
        owner = owner_for_key(session, key=key)
    if owner is not None:
        if len(_keys) > 10_000:
            _keys.clear()
        _keys[digest] = (owner, now + KEY_TTL_S)
    return owner
