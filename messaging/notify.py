"""Live-event notifications over Redis pub/sub, so SSE streams wake the moment an event lands.

Events are always written to the database first; a notification only says "look now". Without
Redis (the embedded default) streams simply poll the database more often.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from redis.asyncio.client import PubSub

from config.settings import Settings

log = logging.getLogger(__name__)


def channel(job_id: str) -> str:
    return f"reprogram:job:{job_id}"


def uses_redis(settings: Settings) -> bool:
    return (settings.broker_url or "").startswith(("redis://", "rediss://"))


def publish(settings: Settings, *, job_id: str) -> None:
    """Tell live streams of a job that new events are committed (best effort)."""
    if not uses_redis(settings):
        return
    try:
        client = _client(settings.broker_url or "")
        client.publish(channel(job_id), "1")
    except redis.RedisError:
        log.warning("could not publish an event notification for %s", job_id, exc_info=True)


_clients: dict[str, redis.Redis] = {}


def _client(url: str) -> redis.Redis:

    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _clients[url]


@asynccontextmanager
async def subscription(settings: Settings, *, job_id: str) -> AsyncIterator[PubSub | None]:
    """A pub/sub subscription to a job's notifications, or None when there is no Redis."""
    if not uses_redis(settings):
        yield None
        return
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.broker_url or "", socket_connect_timeout=2)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel(job_id))
    except (redis.RedisError, OSError):
        log.warning("live notifications unavailable; polling instead", exc_info=True)
        await client.aclose()
        yield None
        return
    try:
        yield pubsub
    finally:
        await pubsub.aclose()
        await client.aclose()
