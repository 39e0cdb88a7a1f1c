"""A job's live events: replay from a cursor, then tail the database until the job ends.

Events are always in the database first; a Redis notification only says "look now". Without
Redis (the embedded default) the stream polls more often instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import redis
from redis.asyncio.client import PubSub

from config.settings import Settings
from db import jobs
from db.models import Event
from db.session import database_unavailable, session_scope
from messaging import notify
from services.jobs import is_finished

log = logging.getLogger("reprogram.events")


@dataclass(frozen=True)
class Ended:
    """The job has finished and every event has been sent."""

    status: str


@dataclass(frozen=True)
class Expired:
    """The stream reached its time limit; the client reconnects from its last event."""


def _poll(job_id: str, after: int | None, url: str) -> tuple[list[Event], str | None] | None:
    """New events and the job's status; None while the database is unreachable."""
    try:
        with session_scope(url) as session:
            rows = jobs.list_events(session, job_id=job_id, after=after, limit=500)
            return rows, jobs.job_status(session, job_id=job_id)
    except Exception as exc:
        if database_unavailable(exc):  # the stream waits it out; the client sees keep-alives
            return None
        raise


async def _wait(pubsub: PubSub | None, interval: float) -> None:
    """Sleep until a notification arrives or `interval` passes."""
    if pubsub is None:
        await asyncio.sleep(interval)
        return
    try:
        await pubsub.get_message(ignore_subscribe_messages=True, timeout=interval)
    except (redis.RedisError, OSError) as exc:  # a dropped connection only costs latency
        log.debug("live notifications interrupted (%s); polling", exc)
        await asyncio.sleep(interval)


async def follow(
    settings: Settings, *, job_id: str, after: int | None
) -> AsyncIterator[Event | Ended | Expired]:
    """The job's events after `after` as they are committed, then Ended (or Expired)."""
    cursor, closes_at = after, time.monotonic() + settings.stream_max_s
    async with notify.subscription(settings, job_id=job_id) as pubsub:
        # With notifications the database is read when told to, and every 2 s as a safety
        # net; without them, every quarter second.
        interval = 2.0 if pubsub is not None else 0.25
        while True:
            polled = await anyio.to_thread.run_sync(_poll, job_id, cursor, settings.sqlalchemy_url)
            rows, status = polled if polled is not None else ([], None)
            for event in rows:
                cursor = event.id
                yield event
            if is_finished(status) and not rows:
                yield Ended(str(status))
                return
            if time.monotonic() > closes_at:
                yield Expired()
                return
            if not rows:
                await _wait(pubsub, interval)
