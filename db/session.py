"""Engines and sessions: Postgres in production, SQLite (WAL) for the embedded default."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, NullPool, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from config.settings import get_settings

T = TypeVar("T")


def database_unavailable(error: BaseException) -> bool:
    """Whether an exception means the database can't be reached now (worth a retry), not a bug."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    # OperationalError: refused, dropped or timed-out connections (and SQLite's "locked");
    # InterfaceError: a connection closed under us; TimeoutError: no pooled connection in time.
    return isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError)


def make_engine(url: str, *, pooled: bool = True) -> Engine:
    """An engine for url; SQLite gets WAL and a busy timeout so the API and worker can share it.

    A Postgres that is down or unreachable fails a connection attempt within db_timeout_s
    instead of hanging, so callers can answer 503 or retry.
    """
    timeout = get_settings().db_timeout_s
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        pool = {"pool_size": 10, "max_overflow": 30} if pooled else {"poolclass": NullPool}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:  # a DB-API connection
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect = {"connect_timeout": max(1, round(timeout))} if url.startswith("postgresql") else {}
    if not pooled:
        return create_engine(url, poolclass=NullPool, connect_args=connect)
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=timeout,
        connect_args=connect,
    )  # fmt: skip


@cache
def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for url (default: the settings' database)."""
    return make_engine(url or get_settings().sqlalchemy_url)


@cache
def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def run_transaction(
    action: Callable[[Session], T],
    *,
    url: str | None = None,
    patience_s: float = 0.0,
    on_wait: Callable[[BaseException], None] | None = None,
) -> T:
    """Run action(session) in one transaction, retrying it while the database is unreachable.

    Retries stop after patience_s and re-raise; errors that are not about reaching the database
    are raised at once. on_wait is called (once) when the first retry starts.
    """
    deadline = time.monotonic() + patience_s
    delay, waited = 0.25, False
    while True:
        try:
            with session_scope(url) as session:
                return action(session)
        except Exception as error:
            if not database_unavailable(error) or time.monotonic() + delay > deadline:
                raise
            if not waited and on_wait is not None:
                on_wait(error)
            waited = True
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
