"""Request-scoped dependencies: settings, a database session, and the caller's owner."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError
from config.settings import Settings, get_settings
from db.models import Owner
from db.owners import KEY_TTL_S, hash_key, owner_for_key
from db.session import session_scope


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


SettingsDep = Annotated[Settings, Depends(_settings)]


def _session(settings: SettingsDep) -> Iterator[Session]:
    """One session per request: committed when the route succeeds, rolled back when it fails."""
    with session_scope(settings.sqlalchemy_url) as session:
        yield session


# Scoped to the route function: the commit happens before the response is sent, so a client
# that reads its own write next finds it, and a failed commit is the response's error.
SessionDep = Annotated[Session, Depends(_session, scope="function")]


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

# Key digest → owner, kept for KEY_TTL_S (db.owners says why); bounded, the oldest go first.
_keys: TTLCache[str, Owner] = TTLCache(maxsize=10_000, ttl=KEY_TTL_S)
_keys_lock = threading.Lock()  # the cache is shared by the threads that run dependencies


def _cached_owner(key: str, url: str) -> Owner | None:
    digest = hash_key(key)  # the raw key is never kept
    with _keys_lock:
        owner = _keys.get(digest)
    if owner is not None:
        return owner
    with session_scope(url) as session:
        owner = owner_for_key(session, key=key)
    if owner is not None:
        with _keys_lock:
            _keys[digest] = owner
    return owner
