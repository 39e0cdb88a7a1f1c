"""Jobs: create (idempotent), list, get, cancel, and their events (JSON and live SSE)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse, ServerSentEvent

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import responses
from config.settings import Settings
from db import jobs as job_queries
from db.models import Event, Job
from db.session import session_scope
from reprogram.statuses import JobStatus
from services import events as live
from services import jobs, sweeps, workers
from services.errors import Invalid
from services.specs import AutoMethodSpec, JobSpec, SweepSpec

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=responses(401, 422, 503))
# Event ids are 64-bit database keys; anything larger can't name one.
EventId = Annotated[int, Query(ge=0, le=2**63 - 1, description="only events with a larger id")]


@router.post(
    "",
    status_code=201,
    response_model=schemas.Job,
    responses={200: {"model": schemas.Job, "description": "replayed idempotent request"},
               202: {"model": schemas.Sweep, "description": "method 'auto': a sweep was "
                     "started instead (Location: /v1/sweeps/{id})"},
               **responses(400, 409, 413)},
)  # fmt: skip
def create_job(
    spec: JobSpec,
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Queue a job; with an Idempotency-Key, a repeated request returns the first job.

    With method 'auto' the service searches for you: a sweep starts instead (202, the sweep).
    """
    if isinstance(spec.method, AutoMethodSpec):
        if idempotency_key is not None:
            raise Invalid("invalid_request", "method 'auto' starts a sweep, which takes no "
                          "Idempotency-Key: POST /v1/sweeps once", field="method")  # fmt: skip
        sweep = sweeps.create(session, settings=settings, owner_id=owner.id,
                              spec=SweepSpec(base=spec))  # fmt: skip
        shown = schemas.Sweep.model_validate(sweep).model_dump(mode="json")
        return JSONResponse(shown, status_code=202, headers={"Location": f"/v1/sweeps/{sweep.id}"})
    job, created = jobs.create(
        session, settings=settings, owner_id=owner.id, spec=spec, idempotency_key=idempotency_key
    )
    if not created:
        response.status_code = 200
    return _shown(session, settings, [job])[0]


@router.get("", response_model=schemas.Page[schemas.Job])
def list_jobs(
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[list[JobStatus] | None, Query(description="repeat to match several")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: str | None = None,
) -> schemas.Page[schemas.Job]:
    """The caller's jobs, newest first."""
    rows, next_cursor = job_queries.list_jobs(
        session, owner_id=owner.id, status=status, limit=limit, cursor=cursor
    )
    return schemas.Page[schemas.Job](
        data=_shown(session, settings, rows), has_more=next_cursor is not None,
        next_cursor=next_cursor,
    )  # fmt: skip


@router.get("/{job_id}", response_model=schemas.Job, responses=responses(404))
def get_job(
    job_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Job:
    """One job."""
    return _shown(session, settings, [jobs.get(session, owner_id=owner.id, job_id=job_id)])[0]


def _shown(session: Session, settings: Settings, rows: list[Job]) -> list[schemas.Job]:
    """Jobs as the API shows them: a queued job says why it is still waiting, if it is stuck."""
    reasons = workers.waiting_reasons(session, settings=settings, jobs=rows)
    shown = [schemas.Job.model_validate(job) for job in rows]
    return [job.model_copy(update={"waiting_reason": reasons.get(job.id)}) for job in shown]


@router.post(
    "/{job_id}/cancel",
    response_model=schemas.Job,
    responses=responses(404, 409),
)
def cancel_job(job_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Job:
    """Cancel a queued job now, or ask a running one to stop within a training step."""
    return schemas.Job.model_validate(jobs.cancel(session, owner_id=owner.id, job_id=job_id))


@router.post("/{job_id}/pause", response_model=schemas.Job, responses=responses(404, 409))
def pause_job(
    job_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Job:
    """Pause: a queued job at once; a running one checkpoints at its next step, freeing its worker."""
    return _shown(session, settings, [jobs.pause(session, owner_id=owner.id, job_id=job_id)])[0]


@router.post("/{job_id}/resume", response_model=schemas.Job, responses=responses(404, 409))
def resume_job(
    job_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> schemas.Job:
    """Queue a paused job again; it continues from its checkpoint."""
    job = jobs.resume(session, settings=settings, owner_id=owner.id, job_id=job_id)
    return _shown(session, settings, [job])[0]


@router.delete("/{job_id}", status_code=204, responses=responses(404, 409))
def delete_job(
    job_id: str, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """Delete a finished job with its events and checkpoint; 409 while it runs or has a model."""
    jobs.delete(session, settings=settings, owner_id=owner.id, job_id=job_id)
    return Response(status_code=204)


@router.get("/{job_id}/events", response_model=schemas.EventList, responses=responses(404))
def list_events(
    job_id: str,
    owner: OwnerDep,
    session: SessionDep,
    after: EventId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> schemas.EventList:
    """A job's events in order: epoch metrics, log lines and status changes."""
    rows, has_more = jobs.events(
        session, owner_id=owner.id, job_id=job_id, after=after, limit=limit
    )
    return schemas.EventList(
        data=[schemas.Event.model_validate(r) for r in rows],
        has_more=has_more,
        next_cursor=str(rows[-1].id) if rows else (str(after) if after is not None else None),
    )


def _sse(item: Event | live.Ended | live.Expired) -> ServerSentEvent:
    if isinstance(item, live.Ended):
        return ServerSentEvent(json.dumps({"status": item.status}), event="end", sep="\n")
    if isinstance(item, live.Expired):
        return ServerSentEvent(comment="stream time limit; reconnect to continue", sep="\n")
    event = schemas.Event.model_validate(item)
    return ServerSentEvent(event.model_dump_json(), event=event.type, id=str(event.id), sep="\n")


def _keep_alive() -> ServerSentEvent:
    """Sent every 15 s of quiet, so proxies don't close the stream."""
    return ServerSentEvent(comment="keep-alive", sep="\n")


@router.get(
    "/{job_id}/events/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **responses(404)},
    response_class=EventSourceResponse,
)
def stream_events(
    job_id: str,
    owner: OwnerDep,
    settings: SettingsDep,
    after: EventId | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-sent events: replays from Last-Event-ID (or ?after=), then tails until the job ends."""
    with session_scope(settings.sqlalchemy_url) as session:  # not held open while streaming
        jobs.get(session, owner_id=owner.id, job_id=job_id)
    start = after
    if last_event_id and re.fullmatch(r"\s*[0-9]{1,19}\s*", last_event_id):  # else from ?after=
        start = min(int(last_event_id), 2**63 - 1)

    async def events() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(retry=2000, sep="\n")
        async for item in live.follow(settings, job_id=job_id, after=start):
            yield _sse(item)

    return EventSourceResponse(
        events(), ping=15, ping_message_factory=_keep_alive, sep="\n",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )  # fmt: skip
