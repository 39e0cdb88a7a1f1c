"""Jobs: create (idempotent), list, get, cancel, and their events (JSON and live SSE)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import ApiError, not_found, responses
from api.validation import check_references
from db import jobs, notify
from db.session import database_unavailable, session_scope
from reprogramming.spec import JobSpec
from services.dispatch import send_job
from services.logs import describe, log_event
from services.recovery import redispatch_delay

log = logging.getLogger("reprogram.api")

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=responses(401, 422, 503))
# Event ids are 64-bit database keys; anything larger can't name one.
EventId = Annotated[int, Query(ge=0, le=2**63 - 1, description="only events with a larger id")]


@router.post(
    "",
    status_code=201,
    response_model=schemas.Job,
    responses={200: {"model": schemas.Job, "description": "replayed idempotent request"},
               **responses(400, 409, 413)},
)  # fmt: skip
def create_job(
    spec: JobSpec,
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> schemas.Job:
    """Queue a job; with an Idempotency-Key, a repeated request returns the first job."""
    check_references(session, spec=spec, owner_id=owner.id)
    body = spec.model_dump(mode="json", exclude_none=True)
    job, created = jobs.create_job(
        session, owner_id=owner.id, spec=body, queue=settings.queue,
        redispatch_after=redispatch_delay(settings, dispatches=1), idempotency_key=idempotency_key,
    )  # fmt: skip
    if not created:
        if job.spec != body:
            raise ApiError(
                409, "idempotency_conflict",
                "this Idempotency-Key was used for a different job spec",
            )  # fmt: skip
        response.status_code = 200
        return schemas.Job.model_validate(job)
    session.commit()  # the worker must find the row the moment the message arrives
    # Accepted either way: if the broker is down, recovery sends the job when it is back.
    if not send_job(settings, job_id=job.id, queue=job.queue):
        _note_unsent(session, job.id)
    return schemas.Job.model_validate(job)


def _note_unsent(session: Session, job_id: str) -> None:
    """Let recovery's next scan send the job at once (best effort: it would anyway, later)."""
    try:
        jobs.mark_unsent(session, job_id=job_id)
        session.commit()
    except Exception as exc:  # the job is committed; the answer must stay its 201
        session.rollback()
        log_event(log, "could not mark the job unsent", level=logging.WARNING, job_id=job_id,
                  error=describe(exc))  # fmt: skip


@router.get("", response_model=schemas.Page[schemas.Job])
def list_jobs(
    owner: OwnerDep,
    session: SessionDep,
    status: Annotated[
        list[jobs.JobStatus] | None, Query(description="repeat to match several")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: str | None = None,
) -> schemas.Page[schemas.Job]:
    """The caller's jobs, newest first."""
    rows, next_cursor = jobs.list_jobs(
        session, owner_id=owner.id, status=status, limit=limit, cursor=cursor
    )
    return schemas.page_of(schemas.Job, rows, next_cursor)


@router.get("/{job_id}", response_model=schemas.Job, responses=responses(404))
def get_job(job_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Job:
    """One job."""
    job = jobs.get_job(session, job_id=job_id, owner_id=owner.id)
    if job is None:
        raise not_found("job", job_id)
    return schemas.Job.model_validate(job)


@router.post(
    "/{job_id}/cancel",
    response_model=schemas.Job,
    responses=responses(404, 409),
)
def cancel_job(job_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Job:
    """Cancel a queued job now, or ask a running one to stop within a training step."""
    job = jobs.get_job(session, job_id=job_id, owner_id=owner.id)
    if job is None:
        raise not_found("job", job_id)
    if job.status in jobs.FINISHED:
        raise ApiError(409, "already_finished", f"job '{job_id}' already {job.status}")
    return schemas.Job.model_validate(jobs.request_cancel(session, job=job))


@router.get("/{job_id}/events", response_model=schemas.EventList, responses=responses(404))
def list_events(
    job_id: str,
    owner: OwnerDep,
    session: SessionDep,
    after: EventId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> schemas.EventList:
    """A job's events in order: epoch metrics, log lines and status changes."""
    if jobs.get_job(session, job_id=job_id, owner_id=owner.id) is None:
        raise not_found("job", job_id)
    rows = jobs.list_events(session, job_id=job_id, after=after, limit=limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    return schemas.EventList(
        data=[schemas.Event.model_validate(r) for r in rows],
        has_more=has_more,
        next_cursor=str(rows[-1].id) if rows else (str(after) if after is not None else None),
    )


def _poll(
    job_id: str, after: int | None, url: str
) -> tuple[list[schemas.Event], str | None] | None:
    """New events and the job's status; None while the database is unreachable."""
    try:
        with session_scope(url) as session:
            rows = jobs.list_events(session, job_id=job_id, after=after, limit=500)
            status = jobs.job_status(session, job_id=job_id)
            return [schemas.Event.model_validate(r) for r in rows], status
    except Exception as exc:
        if database_unavailable(exc):  # the stream waits it out; the client sees keep-alives
            return None
        raise


async def _wait(pubsub: Any, interval: float) -> None:
    """Sleep until a notification arrives or `interval` passes."""
    if pubsub is None:
        await asyncio.sleep(interval)
        return
    try:
        await pubsub.get_message(ignore_subscribe_messages=True, timeout=interval)
    except Exception:  # a dropped Redis connection only costs latency
        await asyncio.sleep(interval)


def _sse(event: schemas.Event) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


@router.get(
    "/{job_id}/events/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **responses(404)},
    response_class=StreamingResponse,
)
def stream_events(
    job_id: str,
    request: Request,
    owner: OwnerDep,
    settings: SettingsDep,
    after: EventId | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: replays from Last-Event-ID (or ?after=), then tails until the job ends."""
    with session_scope(settings.sqlalchemy_url) as session:  # not held open while streaming
        if jobs.get_job(session, job_id=job_id, owner_id=owner.id) is None:
            raise not_found("job", job_id)
    start = after
    if last_event_id and re.fullmatch(r"\s*[0-9]{1,19}\s*", last_event_id):  # else from ?after=
        start = min(int(last_event_id), 2**63 - 1)
    url = settings.sqlalchemy_url

    async def events() -> AsyncIterator[str]:
        cursor, idle = start, 0.0
        closes_at = time.monotonic() + settings.stream_max_s
        yield "retry: 2000\n\n"
        async with notify.subscription(settings, job_id=job_id) as pubsub:
            # With notifications, the database is read when told to (and every 2 s as a
            # safety net); without them, every quarter second.
            interval = 2.0 if pubsub is not None else 0.25
            while True:
                polled = await anyio.to_thread.run_sync(_poll, job_id, cursor, url)
                rows, status = polled if polled is not None else ([], None)
                for event in rows:
                    cursor = event.id
                    yield _sse(event)
                if status in jobs.FINISHED and not rows:
                    yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                    return
                if await request.is_disconnected():
                    return
                if time.monotonic() > closes_at:  # the client reconnects with Last-Event-ID
                    yield ": stream time limit; reconnect to continue\n\n"
                    return
                if rows:
                    idle = 0.0
                    continue
                await _wait(pubsub, interval)
                idle += interval
                if idle >= 15:  # keep proxies from closing a quiet stream
                    idle = 0.0
                    yield ": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
